//! Owns a connection's time limits: one tokio timer per connection, moved only when it has to
//! fire sooner, instead of a timer registered for every read or write that has to wait.
//!
//! A timer armed for an earlier wait that fires early is re-armed for the rest; a busy
//! connection therefore costs one wake-up per limit period, not a registration per request.
//! Moving an armed timer later is a lock-free update in tokio; bringing one forward or
//! re-arming one that fired takes the timer driver's lock, and an earlier timer may wake the
//! runtime (a system call), which is why the timer is never moved forward on the hot path.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::time::{sleep_until, Instant, Sleep};

/// A wait ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

#[derive(Default)]
pub struct Deadline {
    /// Made on the first wait that has to be timed; an idle pooled connection that never waited
    /// holds none.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Runs `work` for at most `limit`. The clock is read only when `work` has to wait.
    pub async fn limit<F: Future>(&mut self, limit: Duration, work: F) -> Result<F::Output, Elapsed> {
        self.run(work, move || Instant::now() + limit).await
    }

    /// Runs `work` until `due` at the latest.
    pub async fn until<F: Future>(&mut self, due: Instant, work: F) -> Result<F::Output, Elapsed> {
        self.run(work, move || due).await
    }

    async fn run<F: Future>(&mut self, work: F, due: impl FnOnce() -> Instant) -> Result<F::Output, Elapsed> {
        let mut work = pin!(work);
        let (mut make, mut due) = (Some(due), None);
        poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            let due = *due.get_or_insert_with(|| make.take().map_or_else(Instant::now, |make| make()));
            self.poll_until(cx, due).map(|()| Err(Elapsed))
        })
        .await
    }

    /// Ready once `due` has passed.
    fn poll_until(&mut self, cx: &mut Context<'_>, due: Instant) -> Poll<()> {
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(due)));
        if timer.deadline() > due {
            timer.as_mut().reset(due);
        }
        loop {
            ready!(timer.as_mut().poll(cx));
            // Armed at `due`, or before it for an earlier wait: then `due` may still be ahead.
            if timer.deadline() >= due || Instant::now() >= due {
                return Poll::Ready(());
            }
            timer.as_mut().reset(due);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::pending;

    #[tokio::test(start_paused = true)]
    async fn ready_work_is_not_timed() {
        let mut d = Deadline::default();
        assert_eq!(d.limit(Duration::ZERO, async { 7 }).await, Ok(7));
        assert!(d.timer.is_none(), "no timer for work that did not wait");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_at_its_own_limit() {
        let mut d = Deadline::default();
        let start = Instant::now();
        assert_eq!(d.limit(Duration::from_secs(5), pending::<()>()).await, Err(Elapsed));
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_timer_is_re_armed_and_a_later_one_brought_forward() {
        let mut d = Deadline::default();
        let second = Duration::from_secs(1);
        // Arms the timer for 10 s, then finishes after 1 s.
        assert_eq!(d.limit(10 * second, tokio::time::sleep(second)).await, Ok(()));
        // A 60 s limit now: the timer fires at 10 s, which must not end this wait.
        let start = Instant::now();
        assert_eq!(d.limit(60 * second, pending::<()>()).await, Err(Elapsed));
        assert_eq!(start.elapsed(), 60 * second);
        // Arms the timer for 5 s, then finishes after 1 s.
        assert_eq!(d.limit(5 * second, tokio::time::sleep(second)).await, Ok(()));
        // A 2 s limit: the timer, due in 4 s, must come forward.
        let start = Instant::now();
        assert_eq!(d.limit(2 * second, pending::<()>()).await, Err(Elapsed));
        assert_eq!(start.elapsed(), 2 * second);
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_finishes_in_time_is_kept() {
        let mut d = Deadline::default();
        let work = async {
            tokio::time::sleep(Duration::from_millis(2_999)).await;
            "done"
        };
        assert_eq!(d.limit(Duration::from_secs(3), work).await, Ok("done"));
    }
}
