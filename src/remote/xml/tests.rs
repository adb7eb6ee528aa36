//! Parser tests: the literal examples of the protocol reference, and garbage that must become `Protocol`
//! errors instead of panics. The project's fixtures are checked in `fixture_tests.rs`, the captured real
//! replies in `captured_tests.rs`.

use super::*;

const USER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<user time="2024-03-05-T09:12:44Z" host="dn-101">
  <username>3f9c2a7be1d04c6a9b1e2d70</username>
  <account-type>unlimited</account-type>
  <locked>false</locked>
  <capacity>-1</capacity>
  <usage>1048576</usage>
  <read-locked>false</read-locked>
  <write-locked>false</write-locked>
  <devices>
    <device>
      <name xml:space="preserve">Jotta</name>
      <display_name xml:space="preserve">Jotta</display_name>
      <type>JOTTA</type>
      <sid>6159a265-9702-4db5-986e-98942b207973</sid>
      <size>1048576</size>
      <modified>2024-03-05-T09:10:02Z</modified>
    </device>
    <device>
      <name xml:space="preserve">office-pc</name>
      <type>WORKSTATION</type>
      <size>0</size>
      <modified></modified>
    </device>
  </devices>
</user>"#;

const DEVICE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<device time="2024-03-05-T09:12:45Z" host="dn-102">
  <name xml:space="preserve">Jotta</name>
  <type>JOTTA</type>
  <size>1048576</size>
  <modified>2024-03-05-T09:10:02Z</modified>
  <user>3f9c2a7be1d04c6a9b1e2d70</user>
  <mountPoints>
    <mountPoint>
      <name xml:space="preserve">OldBackupSet</name>
      <deleted>2024-02-01-T12:00:00Z</deleted>
      <abspath xml:space="preserve">/3f9c2a7be1d04c6a9b1e2d70/Jotta</abspath>
      <size>4096</size>
      <modified>2024-01-31-T08:00:00Z</modified>
    </mountPoint>
    <mountPoint>
      <name xml:space="preserve">Archive</name>
      <size>1048576</size>
      <modified>2024-03-05-T09:10:02Z</modified>
    </mountPoint>
  </mountPoints>
  <metadata first="" max="" total="2" num_mountpoints="2"/>
</device>"#;

const FOLDER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<folder name="docs" time="2024-03-05-T09:12:47Z" host="dn-104">
  <path xml:space="preserve">/3f9c2a7be1d04c6a9b1e2d70/Jotta/Archive</path>
  <folders>
    <folder name="drafts"/>
    <folder name="scratch" deleted="2024-03-04-T17:41:26Z">
      <abspath xml:space="preserve">/3f9c2a7be1d04c6a9b1e2d70/Jotta/Archive/docs</abspath>
    </folder>
  </folders>
  <files>
    <file name="notes.txt" uuid="63d799cd-6827-4b16-964e-e57abdb932d5">
      <currentRevision>
        <number>2</number>
        <state>COMPLETED</state>
        <created>2024-03-05-T09:05:00Z</created>
        <modified>2024-03-05-T09:05:00Z</modified>
        <mime>text/plain</mime>
        <size>15</size>
        <md5>27F60B341727CB8ED1DE139B0DA7C173</md5>
        <updated>2024-03-05-T09:05:02Z</updated>
      </currentRevision>
    </file>
    <file name="upload-in-progress.iso" uuid="ada03742-7079-440d-82be-54ab817ef921">
      <latestRevision>
        <number>1</number>
        <state>INCOMPLETE</state>
        <md5>855d241ac806babcb8d11ceffc023fe1</md5>
      </latestRevision>
    </file>
  </files>
  <metadata first="" max="" total="4" num_folders="2" num_files="2"/>
</folder>"#;

const MOUNT_POINT_EMPTY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<mountPoint time="2024-03-05-T09:12:46Z" host="dn-103">
  <name xml:space="preserve">Archive</name>
  <size>0</size>
  <modified></modified>
  <metadata first="" max="" total="0" num_folders="0" num_files="0"/>
</mountPoint>"#;

const FILE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<file name="notes.txt" uuid="63d799cd" time="2024-03-05-T09:12:48Z" host="dn-105">
  <path xml:space="preserve">/u/Jotta/Archive/docs</path>
  <abspath xml:space="preserve">/u/Jotta/Archive/docs</abspath>
  <currentRevision><number>2</number><state>COMPLETED</state><size>15</size>
    <md5>27f60b341727cb8ed1de139b0da7c173</md5><modified>2024-03-05-T09:05:00Z</modified></currentRevision>
  <revisions>
    <revision><number>1</number><state>COMPLETED</state><size>25</size><md5>855d241ac806babcb8d11ceffc023fe1</md5></revision>
  </revisions>
</file>"#;

const LISTSTREAM: &str = concat!(
    r#"<?xml version="1.0" encoding="UTF-8"?><liststream>"#,
    r#"<folder><path>/Archive/docs</path></folder>"#,
    r#"<file><path>/Archive/docs</path><filename>notes.txt</filename><md5>27F60B341727CB8ED1DE139B0DA7C173</md5>"#,
    r#"<size>15</size><modified>2024-03-05T09:05:00.000Z</modified><created>2024-03-05T09:05:00.000Z</created></file>"#,
    r#"<folder><path>/Archive/docs/drafts</path></folder>"#,
    r#"<file><path>/Archive/docs/drafts/deep</path><filename>a b+c.txt</filename><md5>d41d8cd98f00b204e9800998ecf8427e</md5>"#,
    r#"<size>0</size><modified></modified><created></created></file>"#,
    r#"<stats><folders>3</folders><files>2</files></stats></liststream>"#
);

const ERROR: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<error>
  <code>404</code>
  <message>no.jotta.backup.errors.NoSuchFileException: Source file /u/Jotta/Archive/docs/x.txt does not exist</message>
  <reason>Not Found</reason>
  <cause></cause>
  <hostname>dn-104</hostname>
  <x-id>000000000000000000</x-id>
</error>"#;

#[test]
fn reference_examples() {
    let a = parse_account(USER.as_bytes()).unwrap();
    assert_eq!(a.username, "3f9c2a7be1d04c6a9b1e2d70");
    assert_eq!((a.capacity, a.usage, a.write_locked), (None, 1_048_576, false));
    assert_eq!(a.devices.len(), 2);
    assert!(a.devices[0].is_builtin());
    assert_eq!(a.devices[1].display_name, None);
    assert_eq!(a.devices[1].modified, None);

    let d = parse_device(DEVICE.as_bytes()).unwrap();
    assert_eq!(d.device.name, "Jotta");
    let names: Vec<_> = d.mount_points.iter().map(|m| (m.name.as_str(), m.deleted.is_some())).collect();
    assert_eq!(names, [("OldBackupSet", true), ("Archive", false)]);

    let l = parse_listing(FOLDER.as_bytes()).unwrap();
    assert_eq!((l.name.as_str(), l.is_mount_point, l.deleted), ("docs", false, None));
    assert_eq!(l.folders.iter().map(|f| f.deleted.is_some()).collect::<Vec<_>>(), [false, true]);
    assert_eq!(l.files[0].md5(), Some("27f60b341727cb8ed1de139b0da7c173"));
    assert!(l.files[0].is_live());
    assert!(!l.files[1].is_live());
    assert_eq!(l.files[1].latest.as_ref().map(|r| (r.state, r.size)), Some((RevisionState::Incomplete, None)));

    let m = parse_listing(MOUNT_POINT_EMPTY.as_bytes()).unwrap();
    assert!(m.is_mount_point && m.folders.is_empty() && m.files.is_empty() && m.modified.is_none());
    assert_eq!(m.name, "Archive");

    let f = parse_file(FILE.as_bytes()).unwrap();
    assert_eq!((f.size(), f.revisions.len(), f.abspath.as_deref()), (15, 1, Some("/u/Jotta/Archive/docs")));
    assert!(matches!(parse_item(FILE.as_bytes()).unwrap(), Item::File(_)));
    assert!(matches!(parse_item(FOLDER.as_bytes()).unwrap(), Item::Folder(_)));
    assert!(matches!(parse_item(DEVICE.as_bytes()), Err(RemoteError::Protocol(_))));

    let e = parse_error(ERROR.as_bytes()).unwrap();
    assert_eq!(e.code, Some(404));
    assert!(e.message.starts_with("no.jotta.backup.errors.NoSuchFileException"));
    assert_eq!(e.reason, "Not Found");
    assert_eq!(parse_error(FILE.as_bytes()), None);
    assert_eq!(parse_error(b"Bad gateway"), None);
}

#[test]
fn liststream_is_made_relative_and_checked() {
    // Listed with different casing: the service is case-insensitive, so must we be.
    let t = parse_liststream(LISTSTREAM.as_bytes(), "/archive/Docs").unwrap();
    assert_eq!(t.folders, ["drafts", "drafts/deep"]);
    assert_eq!(t.files.len(), 2);
    assert_eq!((t.files[0].parent.as_str(), t.files[0].name.as_str()), ("", "notes.txt"));
    assert_eq!(t.files[0].md5, "27f60b341727cb8ed1de139b0da7c173");
    assert_eq!(t.files[0].modified, Some(1_709_629_500));
    assert_eq!((t.files[1].parent.as_str(), t.files[1].name.as_str()), ("drafts/deep", "a b+c.txt"));
    assert_eq!(t.files[1].modified, None);

    // Listing from the mount point root.
    let t = parse_liststream(LISTSTREAM.as_bytes(), "/Archive").unwrap();
    assert_eq!(t.folders, ["docs", "docs/drafts", "docs/drafts/deep"]);

    // Empty folder: no entries, stats 0/0 (or absent).
    let empty = r#"<?xml version="1.0"?><r><stats><folders>0</folders><files>0</files></stats></r>"#;
    assert_eq!(parse_liststream(empty.as_bytes(), "/Archive/x").unwrap(), Tree::default());
    assert_eq!(parse_liststream(b"<r/>", "/Archive/x").unwrap(), Tree::default());

    // Stats that disagree, missing stats, and a cut-off stream are all refused.
    let wrong = LISTSTREAM.replace("<files>2</files>", "<files>3</files>");
    let missing = LISTSTREAM.replace("<stats><folders>3</folders><files>2</files></stats>", "");
    let cut = &LISTSTREAM[..LISTSTREAM.len() / 2];
    for bad in [wrong.as_str(), missing.as_str(), cut, "", "not xml"] {
        let e = parse_liststream(bad.as_bytes(), "/Archive/docs").unwrap_err();
        assert!(matches!(e, RemoteError::Protocol(_)), "{bad:?}: {e}");
    }
}

#[test]
fn liststream_paths_that_would_step_out_are_ignored() {
    // A folder with an empty part, a file named `..`, and a file below a `..` folder: none is handed on
    // (a sync writes local files by these names), and the stats still add up.
    let odd = LISTSTREAM
        .replace("<folder><path>/Archive/docs/drafts</path>", "<folder><path>/Archive/docs//drafts</path>")
        .replace("<filename>notes.txt</filename>", "<filename>..</filename>")
        .replace("<path>/Archive/docs/drafts/deep</path><filename>", "<path>/Archive/docs/../up</path><filename>");
    let t = parse_liststream(odd.as_bytes(), "/Archive/docs").unwrap();
    assert_eq!((t.folders.len(), t.files.len()), (0, 0), "{t:?}");
    let t =
        parse_liststream(odd.replace("<filename>..</filename>", "<filename>n</filename>").as_bytes(), "/Archive/docs")
            .unwrap();
    assert_eq!(t.files.iter().map(|f| (f.parent.as_str(), f.name.as_str())).collect::<Vec<_>>(), [("", "n")]);

    // A folder ignored for its path, followed by its files: counted once, as the stats count it.
    let with_files = concat!(
        r#"<?xml version="1.0" encoding="UTF-8"?><liststream>"#,
        r#"<folder><path>/Archive/docs/a//b</path></folder>"#,
        r#"<file><path>/Archive/docs/a//b</path><filename>x.txt</filename><md5>d41d8cd98f00b204e9800998ecf8427e</md5>"#,
        r#"<size>0</size><modified></modified><created></created></file>"#,
        r#"<stats><folders>1</folders><files>1</files></stats></liststream>"#
    );
    let t = parse_liststream(with_files.as_bytes(), "/Archive/docs").unwrap();
    assert_eq!((t.folders.len(), t.files.len()), (0, 0), "{t:?}");
}

#[test]
fn garbage_and_truncation_are_protocol_errors() {
    let cut_user = &USER[..USER.len() / 2];
    let cut_folder = &FOLDER[..FOLDER.len() - 12];
    let cases: Vec<&[u8]> = vec![
        b"",
        b"   \n",
        b"<html><body>502 Bad Gateway</body>",
        b"Bad gateway",
        b"<user><username>x</user>",
        b"\xff\xfe\x00<",
        b"<a></a><b></b>",
        b"<file name=\"x></file>",
        cut_user.as_bytes(),
        cut_folder.as_bytes(),
    ];
    for body in cases {
        for result in [
            parse_account(body).map(|_| ()),
            parse_device(body).map(|_| ()),
            parse_listing(body).map(|_| ()),
            parse_file(body).map(|_| ()),
            parse_item(body).map(|_| ()),
            parse_filedirlist(body).map(|_| ()),
            parse_searchresult(body).map(|_| ()),
        ] {
            let e = result.unwrap_err();
            assert!(matches!(e, RemoteError::Protocol(_)), "{:?}: {e}", String::from_utf8_lossy(body));
            assert!(!e.to_string().contains('\n'), "one-line message: {e}");
        }
    }
}
