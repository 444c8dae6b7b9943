//! Owns appending the XML writer's short runs of output with one fixed-size copy each.
//!
//! A tag, a line's indentation or a short value is a dozen or two bytes. Appending it with
//! `extend_from_slice` of its own length calls `memcpy`, whose cost for so few bytes is mostly
//! the call and its branches on the length. Copying a whole 32-byte block and then cutting
//! the output back to the run's length is two vector moves instead.

/// Size of the block copied for one short run.
pub const BLOCK: usize = 32;

/// Appends the first `len` bytes of `block` (`len <= BLOCK`).
#[inline(always)]
pub fn append(out: &mut Vec<u8>, block: &[u8; BLOCK], len: usize) {
    let end = out.len() + len.min(BLOCK);
    out.extend_from_slice(block);
    out.truncate(end);
}

/// A fixed run of output (a tag with its indentation), kept padded to a block when it fits.
pub struct Piece {
    block: [u8; BLOCK],
    len: usize,
    /// The run when it is longer than a block; empty (no allocation) otherwise.
    long: Box<[u8]>,
}

impl Piece {
    pub fn new(bytes: &[u8]) -> Self {
        let mut block = [0; BLOCK];
        let long = match block.get_mut(..bytes.len()) {
            Some(head) => {
                head.copy_from_slice(bytes);
                Box::default()
            }
            None => bytes.into(),
        };
        Piece { block, len: bytes.len(), long }
    }

    /// The run padded to a block, when it fits in one.
    #[inline(always)]
    pub fn block(&self) -> Option<&[u8; BLOCK]> {
        (self.len <= BLOCK).then_some(&self.block)
    }

    pub fn bytes(&self) -> &[u8] {
        self.block.get(..self.len).unwrap_or(&self.long)
    }

    #[inline(always)]
    pub fn append_to(&self, out: &mut Vec<u8>) {
        if self.len <= BLOCK {
            append(out, &self.block, self.len);
        } else {
            out.extend_from_slice(&self.long);
        }
    }
}

/// Appends `n` spaces.
#[inline(always)]
pub fn spaces(out: &mut Vec<u8>, mut n: usize) {
    const RUN: [u8; BLOCK] = [b' '; BLOCK];
    while n > 0 {
        let run = n.min(BLOCK);
        append(out, &RUN, run);
        n -= run;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_every_length_append_exactly() {
        for len in 0..80 {
            let run: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut out = b"head".to_vec();
            Piece::new(&run).append_to(&mut out);
            spaces(&mut out, len as usize);
            assert_eq!(out.len(), 4 + 2 * run.len(), "length {len}");
            assert_eq!(&out[4..4 + run.len()], &run[..], "length {len}");
            assert!(out[4 + run.len()..].iter().all(|&b| b == b' '), "length {len}");
        }
    }
}
