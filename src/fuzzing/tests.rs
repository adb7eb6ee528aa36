//! Properties of the readers, on stable Rust in `cargo test`: arbitrary bytes and mutations of real
//! documents (the reply fixtures of `tests/fixtures/jfs/` and the fuzz seeds of `fuzz/seeds/`) never
//! make a reader panic or answer with more than one line, and what the writers write reads back as it was.
//! Each bug the fuzzers found has a named regression test at the end.

use super::*;
use crate::sync::archive::{IndexRef, ManifestFile};
use crate::sync::index::Entry;
use crate::vfs::journal::{decode_sealed, EntryKind};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::path::PathBuf;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Every file of a folder of the repository (sorted, so a failure names the same seed each time).
fn files_in(rel: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{rel} holds no documents");
    paths.iter().map(|p| std::fs::read(p).expect("a seed")).collect()
}

/// One change to a document: a byte replaced, a run cut out, a run repeated, or the end cut off.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Cut(usize, usize),
    Repeat(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        1 => (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Cut(i, n)),
        1 => (any::<usize>(), 1..64usize).prop_map(|(i, n)| Mutation::Repeat(i, n)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(doc: &[u8], changes: &[Mutation]) -> Vec<u8> {
    let mut d = doc.to_vec();
    for m in changes {
        if d.is_empty() {
            break;
        }
        let at = |i: usize| i % d.len();
        match *m {
            Mutation::Set(i, b) => {
                let i = at(i);
                d[i] = b;
            }
            Mutation::Cut(i, n) => {
                let i = at(i);
                let end = (i + n).min(d.len());
                d.drain(i..end);
            }
            Mutation::Repeat(i, n) => {
                let i = at(i);
                let run = d[i..(i + n).min(d.len())].to_vec();
                d.splice(i..i, run);
            }
            Mutation::Truncate(i) => d.truncate(at(i)),
        }
    }
    d
}

/// A seed of `docs` with up to eight changes.
fn mutated(docs: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (0..docs.len(), vec(mutation(), 0..8)).prop_map(move |(i, changes)| mutate(&docs[i], &changes))
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..512)
}

/// Fewer cases where each one touches the disk.
fn disk_cases() -> Config {
    Config { cases: 64, ..Config::default() }
}

// ---------------------------------------------------------------------------------------------------------
// Arbitrary and mutated bytes

proptest! {
    #[test]
    fn xml_readers_take_any_bytes(data in bytes()) {
        xml_replies(&data);
        xml_liststream(&data);
    }

    #[test]
    fn xml_readers_take_mutated_replies(data in mutated(files_in("tests/fixtures/jfs"))) {
        xml_replies(&data);
        xml_liststream(&data);
    }

    #[test]
    fn json_readers_take_any_bytes(data in bytes()) {
        json_replies(&data);
    }

    #[test]
    fn json_readers_take_mutated_replies(data in mutated(files_in("fuzz/seeds/json_replies"))) {
        json_replies(&data);
    }

    #[test]
    fn index_reader_takes_any_bytes(data in bytes()) {
        index_file(&data);
    }

    #[test]
    fn index_reader_takes_mutated_indexes(data in mutated(files_in("fuzz/seeds/index_file"))) {
        index_file(&data);
    }

    #[test]
    fn link_targets_and_names_take_any_bytes(data in bytes()) {
        rclonelink(&data);
    }

    #[test]
    fn status_reader_takes_mutated_documents(data in mutated(files_in("fuzz/seeds/status_document"))) {
        status_document(&data);
    }

    #[test]
    fn checksum_xattr_values_take_any_bytes(data in vec(any::<u8>(), 37..=37)) {
        let dir = tempfile::tempdir().expect("scratch");
        checksum_cache(dir.path(), &data);
    }
}

proptest! {
    #![proptest_config(disk_cases())]

    #[test]
    fn journal_reader_takes_mutated_records(data in mutated(files_in("fuzz/seeds/journal_records"))) {
        let dir = tempfile::tempdir().expect("scratch");
        journal_records(dir.path(), &data);
    }

    #[test]
    fn archive_reader_takes_mutated_archives(data in mutated(files_in("fuzz/seeds/archive_head"))) {
        let dir = tempfile::tempdir().expect("scratch");
        archive_head(dir.path(), &data);
    }

    #[test]
    fn login_files_take_mutated_files(data in mutated(files_in("fuzz/seeds/login_files"))) {
        let dir = tempfile::tempdir().expect("scratch");
        login_files(dir.path(), &data);
    }

    #[test]
    fn checksum_cache_file_takes_mutated_files(data in mutated(files_in("fuzz/seeds/checksum_cache"))) {
        let dir = tempfile::tempdir().expect("scratch");
        checksum_cache(dir.path(), &data);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Round trips through the writers

fn name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]{1,8}", "[a-zé ._-]{1,6}", Just("a".to_string())]
        .prop_filter("not a dot name", |s| s != "." && s != "..")
}

fn rel_path() -> impl Strategy<Value = String> {
    vec(name(), 1..4).prop_map(|parts| parts.join("/"))
}

fn index_entry() -> impl Strategy<Value = Entry> {
    (
        rel_path(),
        any::<bool>(),
        any::<u64>(),
        proptest::option::of(any::<i64>()),
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(|(path, folder, size, mtime, md5)| Entry {
            path,
            kind: if folder { Kind::Folder } else { Kind::File },
            size: if folder { 0 } else { size },
            mtime,
            md5,
        })
}

fn index() -> impl Strategy<Value = Index> {
    ("[ -~]{0,20}", any::<i64>(), vec(index_entry(), 0..20))
        .prop_map(|(source, taken, entries)| Index::new(source, taken, entries))
}

fn journal_entry() -> impl Strategy<Value = JournalEntry> {
    let kind = prop_oneof![Just(EntryKind::File), Just(EntryKind::Folder), Just(EntryKind::Removal)];
    (
        1..u64::MAX >> 1,
        rel_path(),
        any::<u64>(),
        "[0-9a-f]{32}",
        any::<i64>(),
        proptest::option::of(".{0,20}"),
        any::<u64>(),
        kind,
    )
        .prop_map(|(id, path, size, md5, mtime, last_error, seq, kind)| JournalEntry {
            id,
            path: format!("/Jotta/Archive/{path}"),
            size,
            md5,
            mtime,
            last_error,
            seq,
            kind,
        })
}

fn manifest(against: &Index) -> impl Strategy<Value = Manifest> {
    let against = IndexRef::of(against);
    let file = (rel_path(), any::<u64>(), "[0-9a-f]{32}", proptest::option::of(any::<i64>()))
        .prop_map(|(path, size, md5, mtime)| ManifestFile { path, size, md5, mtime });
    (any::<i64>(), vec(file, 0..5), vec(rel_path(), 0..5), vec(rel_path(), 0..5)).prop_map(
        move |(created, files, folders, delete)| Manifest {
            format: archive::FORMAT.into(),
            version: archive::VERSION,
            created,
            source: "local:/data".into(),
            compare: "size".into(),
            against: against.clone(),
            from: None,
            files,
            folders,
            delete,
        },
    )
}

proptest! {
    #[test]
    fn indexes_read_back_as_written(idx in index()) {
        prop_assert_eq!(Index::decode(&idx.encode()), Ok(idx.clone()));
        index_file(&idx.encode());
    }

    #[test]
    fn checksum_xattr_values_read_back_as_written(
        md5 in any::<[u8; 16]>(), size in any::<u64>(), sec in any::<i64>(), nsec in 0..1_000_000_000i64,
    ) {
        let stamp = Stamp { size, mtime_sec: sec, mtime_nsec: nsec };
        let v = checksum_cache::format_value(&hex::encode(md5), stamp).expect("a valid md5");
        prop_assert_eq!(checksum_cache::parse_value(&v), Some((hex::encode(md5), stamp)));
    }
}

proptest! {
    #![proptest_config(disk_cases())]

    #[test]
    fn journal_records_read_back_as_written(entries in vec(journal_entry(), 1..4)) {
        let dir = tempfile::tempdir().expect("scratch");
        let journal = Journal::open(dir.path()).expect("journal");
        let mut want = Vec::new();
        for e in entries {
            // Ids are unique in a journal; a file record has its staging file.
            if want.iter().any(|w: &JournalEntry| w.id == e.id) {
                continue;
            }
            if e.has_content() {
                std::fs::write(journal.staging_path(e.id), b"content").expect("staging");
            }
            journal.write(&e).expect("durable record");
            want.push(e);
        }
        want.sort_by_key(|e| (e.mtime, e.id));
        prop_assert_eq!(journal.pending(), want.clone());
        for e in &want {
            let as_found = JournalEntry { id: 1, ..e.clone() };
            journal_records(&dir.path().join("scratch"), &serde_json::to_vec(&as_found).expect("json"));
        }
    }

    #[test]
    fn archive_heads_read_back_as_written((against, m) in index().prop_flat_map(|i| (Just(i.clone()), manifest(&i))), gzip in any::<bool>()) {
        prop_assume!(archive::check_manifest(&m).is_ok());
        let dir = tempfile::tempdir().expect("scratch");
        let written = dir.path().join("a.tar");
        let head = Manifest { files: Vec::new(), ..m };
        archive::write_tar(dir.path(), &head, &against, &written, gzip).expect("written");
        let mut tar = archive::open(&written).expect("opens");
        let (_, got, idx) = read_head(&mut tar, &written).expect("reads back");
        prop_assert_eq!((got, idx), (head, against));
    }
}

// ---------------------------------------------------------------------------------------------------------
// The seeds themselves

#[test]
fn every_seed_reads() {
    for seed in files_in("fuzz/seeds/index_file") {
        let idx = Index::decode(&seed).expect("the index seeds are whole indexes");
        assert!(!idx.entries.is_empty());
    }
    let dir = tempfile::tempdir().expect("scratch");
    for seed in files_in("fuzz/seeds/archive_head") {
        let mut tar = archive::from_reader(Box::new(std::io::Cursor::new(seed))).expect("memory");
        read_head(&mut tar, Path::new("seed.tar")).expect("the archive seeds are whole archives");
    }
    for seed in files_in("fuzz/seeds/journal_records") {
        let record = split(&seed).0;
        if record.contains(&b'\n') {
            decode_sealed(record).expect("the sealed journal seeds are whole");
        } else {
            serde_json::from_slice::<JournalEntry>(record).expect("the journal seeds are records");
        }
    }
    for seed in files_in("fuzz/seeds/status_document") {
        assert!(crate::mount::status::parse(&seed).is_some(), "a status seed does not read");
    }
    let _ = dir;
}

/// The binary seeds under `fuzz/seeds/` are made by the project's own writers:
/// `cargo test --release --lib write_binary_seeds -- --ignored` writes them again after a format change.
#[test]
#[ignore = "writes fuzz/seeds/; run by hand when a binary format changes"]
fn write_binary_seeds() {
    let file = |p: &str, size, mtime, md5| Entry { path: p.into(), kind: Kind::File, size, mtime, md5 };
    let idx = Index::new(
        "local:/data/drawings".into(),
        1_700_000_000,
        vec![
            file("a.txt", 3, Some(1_600_000_000), Some([7; 16])),
            Entry { path: "b".into(), kind: Kind::Folder, size: 0, mtime: None, md5: None },
            file("b/é.txt", 0, None, None),
            file("b/éa.txt", u64::MAX, Some(-5), None),
        ],
    );
    std::fs::write(repo("fuzz/seeds/index_file/drawings.idx"), idx.encode()).expect("seed");

    let src = tempfile::tempdir().expect("scratch");
    std::fs::create_dir_all(src.path().join("b")).expect("scratch");
    std::fs::write(src.path().join("b/new.txt"), b"new\n").expect("scratch");
    let m = Manifest {
        format: archive::FORMAT.into(),
        version: archive::VERSION,
        created: 1_700_000_100,
        source: "local:/data/drawings".into(),
        compare: "size".into(),
        against: IndexRef::of(&idx),
        from: None,
        files: vec![ManifestFile {
            path: "b/new.txt".into(),
            size: 4,
            md5: checksum_cache::hash_file(&src.path().join("b/new.txt"), 4).expect("md5"),
            mtime: Some(1_700_000_050),
        }],
        folders: vec!["c".into()],
        delete: vec!["a.txt".into(), "b/éa.txt".into()],
    };
    for (name, gzip) in [("drawings.tar", false), ("drawings.tar.gz", true)] {
        let out = repo("fuzz/seeds/archive_head").join(name);
        archive::write_tar(src.path(), &m, &idx, &out, gzip).expect("seed");
    }

    let stamp = Stamp { size: 3, mtime_sec: 1_700_000_000, mtime_nsec: 5 };
    let value = checksum_cache::format_value("0cc175b9c0f1b6a831c399e269772661", stamp).expect("md5");
    std::fs::write(repo("fuzz/seeds/checksum_cache/xattr_value"), value).expect("seed");
}

// ---------------------------------------------------------------------------------------------------------
// What the fuzzers found

/// A time element whose text holds a line break was refused with that line break in the message, which
/// goes to the log as one line.
#[test]
fn a_time_with_a_line_break_is_refused_in_one_line() {
    let e = time::parse("2024-03-05\n-T09:12:44Z").expect_err("not a time");
    one_line("time", &e);
    assert!(e.to_string().contains(r"2024-03-05\n-T09:12:44Z"), "{e}");
}

/// A record under another id's name was recovered, then never removed (`remove` looks under its own id):
/// it was uploaded again at every start, and its removal took the other id's files.
#[test]
fn a_journal_record_under_another_ids_name_is_set_aside() {
    let dir = tempfile::tempdir().expect("scratch");
    let journal = Journal::open(dir.path()).expect("journal");
    let other = JournalEntry::folder(2, "/Jotta/Archive/other".into(), 5);
    journal.write(&other).expect("record");
    let misnamed = JournalEntry::folder(2, "/Jotta/Archive/misnamed".into(), 6);
    let file = dir.path().join("journal/0000000000000001.json");
    std::fs::write(&file, serde_json::to_vec(&misnamed).expect("json")).expect("write");
    assert_eq!(journal.pending(), vec![other.clone()]);
    assert!(dir.path().join("journal/0000000000000001.broken").exists());
    journal.remove(other.id);
    assert_eq!(journal.pending(), Vec::new());
}

/// The tar reader names a damaged entry by the bytes of its name, line breaks included: the archive's
/// refusal came out on two lines (and could carry terminal escapes).
#[test]
fn a_damaged_archive_is_refused_in_one_line() {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, "jotta-archive\n\u{1b}[2J.json", &b"{}"[..]).expect("tar");
    let mut bytes = tar.into_inner().expect("tar");
    bytes[148..156].copy_from_slice(b"}\0\0\0\0\0\0\0"); // the header checksum, no longer a number
    let mut archive = archive::from_reader(Box::new(std::io::Cursor::new(bytes))).expect("memory");
    let e = read_head(&mut archive, Path::new("a.tar")).err().expect("refused");
    one_line("archive", &e);
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
}

/// An index entry whose path holds a line break was refused with the path as it was: two lines.
#[test]
fn an_index_with_a_line_break_in_a_path_is_refused_in_one_line() {
    // source "", taken 0, one entry: no shared prefix, the path "\n\0" (refused for its NUL), a file of size 0.
    let body = [0, 0, 0, 2, b'\n', 0, 0, 0];
    let e = Index::decode(&wrap_index_body(1, &body)).expect_err("a path with a line break");
    one_line("index", &e);
    assert!(e.to_string().contains(r"invalid path '\n\0'"), "{e}");
}

/// quick-xml names a mismatched end tag by its text up to the next `>`, line breaks included: the
/// refusal of such a reply came out on several lines.
#[test]
fn a_reply_with_a_broken_end_tag_is_refused_in_one_line() {
    let doc = b"<file name=\"a\"><latestRevision><state>COMPLETED</state9\n  <size>1</size\n></latestRevision></file>";
    let e = xml::parse_file(doc).expect_err("malformed");
    one_line("file", &e);
    assert!(e.to_string().contains("malformed XML"), "{e}");
    let e = xml::parse_liststream(doc, "/Archive").expect_err("malformed");
    one_line("liststream", &e);
}

/// The share of an upload in flight was `sent * 100 / size` in u64: past 184 PB sent it overflowed
/// (a panic with overflow checks, a wrong percentage without).
#[test]
fn the_status_of_a_huge_upload_shows_its_share() {
    let doc = format!(
        r#"{{"pid": 1, "mountpoint": "/m", "root": "/Jotta", "report": {{"pending": [{{"path": "/Jotta/Archive/big",
        "in_flight": true, "size": {}, "bytes_sent": {}}}]}}}}"#,
        u64::MAX / 25 * 2,
        u64::MAX / 25
    );
    let status = crate::mount::status::parse(doc.as_bytes()).expect("a status document");
    let text = crate::cli::jotta::account::render_status(&[status], false);
    assert!(text.contains("sent (50%)"), "{text}");
    status_document(doc.as_bytes());
}

/// kill(2) takes pid 0 for the caller's process group and a negative pid for another group: a status
/// file with such a pid counted as a live mount.
#[test]
fn a_status_file_with_a_pid_that_names_a_group_is_not_a_live_mount() {
    use crate::mount::status::is_alive;
    assert!(is_alive(std::process::id()));
    for pid in [0, u32::MAX, 1 << 31] {
        assert!(!is_alive(pid), "pid {pid}");
    }
}

/// A token reply's `expires_in` became `now + expires_in`: i64::MAX overflowed, a negative one made
/// every request refresh. Outside 1 s..1 year it is taken as unknown.
#[test]
fn a_token_lifetime_out_of_range_is_taken_as_unknown() {
    use auth::{token_reply, TokenUse};
    for (lifetime, want) in
        [("3600", 3600), ("9223372036854775807", 300), ("-5", 300), ("0", 300), ("\"86400\"", 86400)]
    {
        let body = format!(r#"{{"access_token": "t", "expires_in": {lifetime}}}"#);
        let t = token_reply(200, body.as_bytes(), "https://id.example/token", TokenUse::Refresh).expect("a token");
        assert_eq!(t.expires_in, want, "expires_in {lifetime}");
    }
}

/// The fuzzer's find: a token endpoint's error with an escaped line break (`"invalid\r..."`) made a
/// message of two lines. The whole of every JSON reply the fuzz target reads stays one line now.
#[test]
fn a_token_error_with_escaped_line_breaks_is_one_line() {
    for body in [
        r#"{"error":"invalid\\\\\\\\\\\\\\\\\rror_iTrcion   \\\\ ctive"}"#,
        r#"{"error":"invalid_grant","error_description":"two\nlines\u0000and a nul"}"#,
    ] {
        json_replies(body.as_bytes());
    }
}

/// The fuzzer's find: a login token whose service link held an escaped carriage return, and was no URL,
/// was refused with a message of two lines (the link was quoted as it was). Links are shown escaped now.
#[test]
fn a_login_token_with_a_line_break_in_its_link_is_refused_in_one_line() {
    let token =
        r#"{"username":"u","realm":"jottacloud","well_known_link":"https://id.example:x\rpath","auth_token":"a1b2"}"#;
    json_replies(token.as_bytes());
    let e = auth::token_service("https://id.example:x\r\npath").unwrap_err().to_string();
    assert!(!e.contains(['\n', '\r']) && e.contains("is not a URL"), "{e}");
    // An endpoint is refused the same way, in one line.
    let e = crate::remote::endpoints::check_transport("no url\r\nhere").unwrap_err().to_string();
    assert!(!e.contains(['\n', '\r']) && e.contains("is not a URL"), "{e}");
}
