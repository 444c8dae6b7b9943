//! Fuzzes JSON → XML: any input either is refused or becomes well-formed XML with exactly one
//! root element and only names every XML reader takes; whatever serde_json reads is never
//! refused; lists' records written from templates come out as the general writer writes them.
//! Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liveagent_gateway::request::format::Format;
use liveagent_gateway::transcode;
use quick_xml::events::Event;

fuzz_target!(|data: &[u8]| {
    let parsed = serde_json::from_slice::<serde_json::Value>(data).ok();
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(transcode::xml::streamed(text, true), transcode::xml::streamed(text, false), "{text}");
    }
    let Ok(out) = transcode::transcode(data, Format::Xml) else {
        assert!(parsed.is_none(), "valid JSON was refused");
        return;
    };
    let text = std::str::from_utf8(&out).expect("XML output is UTF-8");
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut roots) = (0i64, 0);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                assert!(transcode::xml::is_xml_name(&String::from_utf8_lossy(e.name().as_ref())), "{text}");
                roots += i32::from(depth == 0);
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                assert!(transcode::xml::is_xml_name(&String::from_utf8_lossy(e.name().as_ref())), "{text}");
                roots += i32::from(depth == 0);
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("malformed XML ({e}):\n{text}"),
        }
    }
    assert_eq!((depth, roots), (0, 1), "{text}");
});
