//! Tests of the streaming JUnit reader: e2e-form files of our own, hostile shapes and the caps.

use super::*;

const SUITE: &str = "Kubernetes e2e suite";

/// A testcase in the e2e form: `kind` is "" (passed), "failure", "error" or "skipped".
fn case(name: &str, kind: &str) -> String {
    let name = quick_xml::escape::escape(name);
    let body = match kind {
        "failure" => concat!(
            r#"<failure type="Failure">[FAILED] Expected&#xA;    &lt;int&gt;: 1&#xA;to equal 0"#,
            "\nIn [It] at: test/e2e/scalability/load.go:123 @ 11/25/26 10:00:00.000\n",
            r#"</failure><system-out><![CDATA[> Enter [It] <unclosed & ]]]></system-out>"#
        ),
        "error" => r#"<error type="Panic">panic: &custom; runtime error</error>"#,
        "skipped" => r#"<skipped message="skipped: [Feature:Performance]"/>"#,
        _ => "<system-out>STEP: Creating a namespace &amp; waiting</system-out>",
    };
    format!("<testcase classname=\"{SUITE}\" name=\"{name}\" time=\"12.5\">{body}</testcase>\n")
}

fn suite(cases: &[String]) -> String {
    let failures = cases.iter().filter(|c| c.contains("<failure")).count();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"{}\" \
         disabled=\"0\" errors=\"0\" failures=\"{failures}\" time=\"3600\">\n\
         <testsuite name=\"{SUITE}\" package=\"/home/prow/go/src/k8s.io/kubernetes/test/e2e\" \
         tests=\"{}\" failures=\"{failures}\" time=\"3600\">\n\
         <properties><property name=\"SuiteSucceeded\" value=\"false\"></property></properties>\n\
         {}</testsuite>\n</testsuites>\n",
        cases.len(),
        cases.len(),
        cases.concat()
    )
}

fn parse(text: &str) -> JunitFile {
    parse_junit(text.as_bytes(), &Limits::default())
}

const LOAD: &str = "[sig-scalability] Load capacity [Feature:Performance] load testing";
const DENSITY: &str =
    "[sig-scalability] Density [Feature:Performance] should allow starting 30 pods per node";

#[test]
fn e2e_failures_errors_skips_and_passes() {
    let doc = suite(&[
        case("[SynchronizedBeforeSuite]", ""),
        case(LOAD, "failure"),
        case(
            "[sig-scalability] Density [Feature:ManualPerformance] skipped",
            "skipped",
        ),
        case(DENSITY, "error"),
        case("[SynchronizedAfterSuite]", ""),
    ]);
    let got = parse(&doc);
    assert_eq!(got.names, vec![LOAD.to_string(), DENSITY.to_string()]);
    assert_eq!((got.failed, got.testcases), (2, 5));
    assert!(!got.truncated);
    assert!(got.notes.is_empty(), "{:?}", got.notes);
    assert_eq!(got.bytes_read, doc.len() as u64);
}

#[test]
fn table_of_shapes() {
    // (document, failed names, notes expected)
    let cases: &[(&str, &[&str], bool)] = &[
        // A bare <testsuite>, self-closed passing and skipped cases.
        (
            r#"<testsuite name="s"><testcase name="a"/><testcase name="b"><skipped/></testcase><testcase name="c"><failure/></testcase></testsuite>"#,
            &["c"],
            false,
        ),
        // Nested testsuites (ginkgo v1 wrote one per node).
        (
            r#"<testsuites><testsuite><testsuite><testcase name="deep"><error message="x"/></testcase></testsuite></testsuite></testsuites>"#,
            &["deep"],
            false,
        ),
        // The same name twice (a retried flake) is one failure; name empty → classname.
        (
            r#"<testsuites><testcase name="t"><failure/></testcase><testcase name="t"><failure>again</failure></testcase><testcase name="" classname="pkg.Test"><failure/></testcase></testsuites>"#,
            &["t", "pkg.Test"],
            false,
        ),
        // A failure deeper than a direct child does not count; a namespaced one does.
        (
            r#"<testsuites xmlns:j="urn:j"><testcase name="x"><properties><failure/></properties></testcase><j:testcase name="y"><j:failure/></j:testcase></testsuites>"#,
            &["y"],
            false,
        ),
        // Entities: unknown kept, character references resolved, lone & kept.
        (
            r#"<testsuite><testcase name="a &unknown; b &#x1F600; &lt;c&gt; & d &#0; &#xD800;"><failure/></testcase></testsuite>"#,
            &["a &unknown; b 😀 <c> & d \u{0} &#xD800;"],
            false,
        ),
        // Any Unicode: RTL, NUL as a reference, emoji, literal newlines → spaces.
        (
            "<testsuite><testcase name=\"\u{202E}גלגל\u{202C} 🚀\nline&#10;two\"><failure/></testcase></testsuite>",
            &["\u{202E}גלגל\u{202C} 🚀 line\ntwo"],
            false,
        ),
        // Not JUnit at all: a note, nothing counted.
        ("<html><body>404</body></html>", &[], true),
        // Empty input and whitespace: nothing, no error.
        ("", &[], false),
        ("  \n", &[], false),
        // Mismatched end tag: what came before, and a note.
        (
            r#"<testsuite><testcase name="a"><failure/></testcase><testcase name="b"></oops>"#,
            &["a"],
            true,
        ),
        // Cut short inside a failing testcase: it still failed.
        (
            r#"<testsuite><testcase name="a"><failure>message cut he"#,
            &["a"],
            true,
        ),
        // Cut short inside a tag.
        (
            r#"<testsuite><testcase name="a"><failure/></testcase><testc"#,
            &["a"],
            true,
        ),
        // Cut short inside a comment or CDATA.
        (
            r#"<testsuite><testcase name="a"><failure/></testcase><!-- abc"#,
            &["a"],
            true,
        ),
        (
            r#"<testsuite><testcase name="a"><failure><![CDATA[ abc"#,
            &["a"],
            true,
        ),
        // Garbage.
        ("\u{0}\u{1}<<<>>>&&&", &[], true),
        // Invalid UTF-8 in a name is replaced, not fatal.
        (
            "<testsuite><testcase name=\"a\u{FFFD}b\"><failure/></testcase></testsuite>",
            &["a\u{FFFD}b"],
            false,
        ),
    ];
    for (doc, names, noted) in cases {
        let got = parse(doc);
        assert_eq!(&got.names, names, "{doc}");
        assert_eq!(got.failed, names.len(), "{doc}");
        assert_eq!(!got.notes.is_empty(), *noted, "{doc}: {:?}", got.notes);
        assert!(!got.truncated, "{doc}");
    }
}

#[test]
fn invalid_utf8_bytes_are_replaced() {
    let mut doc = b"<testsuite><testcase name=\"a".to_vec();
    doc.extend_from_slice(&[0xff, 0xfe]);
    doc.extend_from_slice(b"b\"><failure/></testcase></testsuite>");
    let got = parse_junit(&doc[..], &Limits::default());
    assert_eq!(got.names, vec!["a\u{FFFD}\u{FFFD}b".to_string()]);
}

#[test]
fn twenty_five_failures_keep_twenty_names_and_count_all() {
    let cases: Vec<String> = (0..30)
        .map(|i| {
            let kind = if i % 6 == 5 { "" } else { "failure" };
            case(&format!("[sig-scalability] test {i:02}"), kind)
        })
        .collect();
    let got = parse(&suite(&cases));
    assert_eq!(got.failed, 25);
    assert_eq!(got.testcases, 30);
    assert_eq!(got.names.len(), 20);
    assert_eq!(got.names[0], "[sig-scalability] test 00");
    assert_eq!(got.names[5], "[sig-scalability] test 06");
    assert_eq!(got.names[19], "[sig-scalability] test 22");
}

#[test]
fn long_names_are_cut_at_a_character_boundary() {
    let long = "é🚀".repeat(800);
    let got = parse(&suite(&[case(&long, "failure")]));
    let name = &got.names[0];
    assert_eq!(name.chars().count(), 1001);
    assert!(name.ends_with('…'));
    assert!(long.starts_with(name.trim_end_matches('…')));
}

#[test]
fn deep_nesting_stops_with_a_note() {
    let mut doc = String::from("<testsuites><testcase name=\"early\"><failure/></testcase>");
    doc.push_str(&"<testsuite>".repeat(100_000));
    let got = parse(&doc);
    assert_eq!(got.names, vec!["early".to_string()]);
    assert!(
        got.notes[0].contains("nested deeper than 64"),
        "{:?}",
        got.notes
    );
    // It stopped there: it did not read the other 99,936 tags.
    assert!(got.bytes_read < 2000, "{}", got.bytes_read);
}

#[test]
fn billion_laughs_is_never_expanded() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    doc.push_str(" <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n");
    for i in 2..10 {
        let prev = format!("&lol{};", i - 1).repeat(10);
        doc.push_str(&format!(" <!ENTITY lol{i} \"{prev}\">\n"));
    }
    doc.push_str("]>\n<testsuite><testcase name=\"&lol9;\"><failure>&lol9;</failure></testcase>");
    doc.push_str("<testcase name=\"after\"><error/></testcase></testsuite>");
    let got = parse(&doc);
    assert_eq!(got.names, vec!["&lol9;".to_string(), "after".to_string()]);
    assert!(got.notes.is_empty(), "{:?}", got.notes);
}

/// Endless input: `prefix`, then `fill` forever (a body that declares 1 GB and more).
struct Endless {
    prefix: io::Cursor<Vec<u8>>,
    fill: &'static [u8],
    at: usize,
}

impl Read for Endless {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.prefix.read(out)?;
        if n > 0 {
            return Ok(n);
        }
        for b in out.iter_mut() {
            *b = self.fill[self.at % self.fill.len()];
            self.at += 1;
        }
        Ok(out.len())
    }
}

#[test]
fn an_endless_body_is_capped() {
    let limits = Limits {
        max_bytes: 4 << 20,
        ..Limits::default()
    };
    let prefix = format!(
        "<testsuites tests=\"1000000000\"><testsuite>{}",
        case(LOAD, "failure")
    );
    let fill: &'static [u8] = b"<testcase name=\"again\"><failure>x</failure></testcase>\n";
    let got = parse_junit(
        Endless {
            prefix: io::Cursor::new(prefix.into_bytes()),
            fill,
            at: 0,
        },
        &limits,
    );
    assert!(got.truncated);
    assert_eq!(got.bytes_read, 4 << 20);
    assert_eq!(got.names, vec![LOAD.to_string(), "again".to_string()]);
    assert_eq!(got.failed, 2);
    assert!(got.testcases > 70_000, "{}", got.testcases);
    assert!(got.notes.is_empty(), "{:?}", got.notes);
}

#[test]
fn endless_text_or_cdata_or_tag_is_bounded() {
    let limits = Limits {
        max_bytes: 8 << 20,
        ..Limits::default()
    };
    // Text and CDATA are skipped, not buffered: read up to the byte cap.
    for (prefix, fill) in [
        (
            "<testsuite><testcase name=\"a\"><failure>",
            &b"aaaa&lol;"[..],
        ),
        (
            "<testsuite><testcase name=\"a\"><failure><![CDATA[",
            &b"]]"[..],
        ),
        ("<testsuite><!--", &b"--"[..]),
    ] {
        let got = parse_junit(
            Endless {
                prefix: io::Cursor::new(prefix.as_bytes().to_vec()),
                fill,
                at: 0,
            },
            &limits,
        );
        assert!(got.truncated, "{prefix}");
        assert_eq!(got.bytes_read, 8 << 20, "{prefix}");
        assert!(got.notes.is_empty(), "{prefix}: {:?}", got.notes);
    }
    // One endless tag or DOCTYPE stops at the markup cap.
    for (prefix, fill) in [
        ("<testsuite><testcase name=\"", &b"x"[..]),
        ("<!DOCTYPE x [<!ENTITY a \"", &b"&a;"[..]),
    ] {
        let got = parse_junit(
            Endless {
                prefix: io::Cursor::new(prefix.as_bytes().to_vec()),
                fill,
                at: 0,
            },
            &limits,
        );
        assert!(!got.truncated, "{prefix}");
        assert!(got.bytes_read < 2 << 20, "{prefix}: {}", got.bytes_read);
        assert!(
            got.notes[0].contains("larger than 1 MiB"),
            "{:?}",
            got.notes
        );
    }
}

#[test]
fn the_result_does_not_depend_on_how_the_bytes_arrive() {
    let doc = suite(&[
        case(LOAD, "failure"),
        case("b", "skipped"),
        case(DENSITY, "error"),
    ]);
    // A DOCTYPE whose end is found by quoting and brackets, to be cut anywhere too.
    let doc = format!(
        "<!DOCTYPE x SYSTEM \"a>b\" [<!ENTITY e '>]'> <!-- ] -->]>{}",
        doc.trim_start_matches(|c| c != '\n')
    );
    let whole = parse(&doc);
    assert_eq!(whole.names, vec![LOAD.to_string(), DENSITY.to_string()]);
    assert!(whole.notes.is_empty(), "{:?}", whole.notes);
    for piece in [1, 2, 3, 7, 9, 64] {
        let got = parse_junit(OneByOne(doc.as_bytes(), piece), &Limits::default());
        assert_eq!(got, whole, "pieces of {piece}");
    }
}

#[test]
fn hostile_declarations_and_long_tags_end_alike_however_cut() {
    let limits = Limits {
        max_markup_bytes: 64,
        ..Limits::default()
    };
    let long = format!(
        "<testsuite><testcase name=\"{}\"><failure/></testcase>",
        "x".repeat(100)
    );
    for doc in [
        "<?xml version=\"1.0\"?><!DGCTYPE 0o, [<!EgggTY lol ]>\n<!-- c --><testsuite><testcase name=\"a\"><failure/></testcase></testsuite><!",
        "<!DOCTYPE x [<!ENTITY a \"]>\"> ]><testsuite><testcase name=\"b\"><error/></testcase></testsuite>",
        long.as_str(),
    ] {
        let whole = parse_junit(doc.as_bytes(), &limits);
        for piece in 1..=16 {
            let got = parse_junit(OneByOne(doc.as_bytes(), piece), &limits);
            assert_eq!(got, whole, "{doc} in pieces of {piece}");
        }
    }
    let got = parse_junit(long.as_bytes(), &limits);
    assert_eq!(
        got.notes,
        vec!["a tag or declaration larger than 64 bytes (at byte 76)".to_string()]
    );
}

/// Reads at most `.1` bytes at a time.
struct OneByOne<'a>(&'a [u8], usize);

impl Read for OneByOne<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.1.min(out.len()).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_keeps_what_was_read() {
    struct Failing(io::Cursor<Vec<u8>>);
    impl Read for Failing {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match self.0.read(out)? {
                0 => Err(io::Error::other("connection reset")),
                n => Ok(n),
            }
        }
    }
    let doc = r#"<testsuite><testcase name="a"><failure/></testcase><testcase name="b">"#;
    let got = parse_junit(Failing(io::Cursor::new(doc.into())), &Limits::default());
    assert_eq!(got.names, vec!["a".to_string()]);
    assert!(got.notes[0].contains("connection reset"), "{:?}", got.notes);
}

#[test]
fn files_merge_in_order_with_notes() {
    let limits = Limits {
        max_names: 3,
        max_bytes: 1 << 10,
        ..Limits::default()
    };
    let mut all = FailedTests::default();
    let one = parse_junit(
        r#"<testsuite><testcase name="a"><failure/></testcase><testcase name="b"><failure/></testcase></testsuite>"#.as_bytes(),
        &limits,
    );
    let two = parse_junit(
        r#"<testsuite><testcase name="b"><failure/></testcase><testcase name="c"><failure/></testcase><testcase name="d"><failure/></testcase></testsuite>"#.as_bytes(),
        &limits,
    );
    let big = format!("<testsuite>{}", "<testcase name=\"e\"/>".repeat(100));
    let three = parse_junit(big.as_bytes(), &limits);
    all.add_file("junit_01.xml", one, &limits);
    all.add_file("junit_02.xml", two, &limits);
    all.add_file("junit_03.xml", three, &limits);
    assert_eq!(all.names, vec!["a", "b", "c"]);
    assert_eq!(all.total_failed, 5);
    assert_eq!(all.files_read, 3);
    assert_eq!(
        all.notes,
        vec!["junit_03.xml: truncated at 1 KiB".to_string()]
    );
}
