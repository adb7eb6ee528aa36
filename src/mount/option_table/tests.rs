//! The table against its readers: the parser, the resolved defaults, `--help` and README.

use super::*;
use crate::remote::RemotePath;

/// A value each kind accepts.
fn sample(t: Takes) -> &'static str {
    match t {
        Takes::Flag => "",
        Takes::Secs => "1.5",
        Takes::Number => "4",
        Takes::Octal => "027",
        Takes::Name => "jotta",
        Takes::Path => "/Jotta/Archive",
        Takes::Dir => "/tmp",
        Takes::File => "/tmp/ca.pem",
        Takes::Url => "http://127.0.0.1:1",
    }
}

fn written(o: &OptionSpec, value: &str) -> String {
    if o.takes == Takes::Flag {
        o.name.to_string()
    } else {
        format!("{}={value}", o.name)
    }
}

#[test]
fn names_are_unique_and_not_ignored_words() {
    for (i, o) in OPTIONS.iter().enumerate() {
        assert!(OPTIONS[..i].iter().all(|p| p.name != o.name), "{} twice", o.name);
        assert!(!ignored(o.name), "{} is both an option and an ignored word", o.name);
        assert!(!o.help.is_empty() && !o.help.contains('\n'), "{}: one line of help", o.name);
    }
}

#[test]
fn every_option_parses_with_a_sample_value() {
    for o in OPTIONS {
        let opt = written(o, sample(o.takes));
        let mut s = MountSettings::default();
        s.apply(&opt).unwrap_or_else(|e| panic!("{opt}: {e}"));
        assert_ne!(format!("{s:?}"), format!("{:?}", MountSettings::default()), "{opt} changed nothing");
    }
}

#[test]
fn flags_take_no_value_and_the_others_need_one() {
    for o in OPTIONS {
        let wrong = if o.takes == Takes::Flag { format!("{}=1", o.name) } else { o.name.to_string() };
        let e = MountSettings::default().apply(&wrong).unwrap_err();
        assert!(e.starts_with(&format!("mount option {wrong}")) && !e.contains('\n'), "{wrong}: {e}");
    }
}

/// Everything the daemon resolves from the settings, for comparing.
fn resolved(s: &MountSettings) -> String {
    let c = s.vfs_config(RemotePath::root(), 1000, 100);
    format!(
        "uid {} gid {} umask {:o} dir {:?} attr {:?} entries {} wb {:?} uploads {} prefetch {} threads {} \
         drain {:?} ra {}",
        c.uid,
        c.gid,
        c.umask,
        c.dir_ttl,
        c.attr_ttl,
        c.cache_entries,
        c.writeback_delay,
        c.upload_workers,
        c.prefetch,
        s.threads(),
        s.drain_timeout(),
        s.read_ahead_kb()
    )
}

#[test]
fn the_shown_defaults_are_what_an_unset_option_resolves_to() {
    let unset = resolved(&MountSettings::default());
    let mut numeric = 0;
    for o in OPTIONS {
        let Some(value) = o.default.as_value() else { continue };
        numeric += 1;
        let opt = written(o, &value);
        let mut s = MountSettings::default();
        s.apply(&opt).unwrap_or_else(|e| panic!("{opt}: {e}"));
        assert_eq!(resolved(&s), unset, "-o {opt} (the shown default) resolves differently from no option");
        // And the option is read at all: another value resolves differently.
        let mut other = MountSettings::default();
        other.apply(&written(o, "3")).unwrap();
        assert_ne!(resolved(&other), unset, "-o {}=3 changes nothing the daemon resolves", o.name);
    }
    assert_eq!(numeric, 10, "every option with a numeric default is checked");
}

#[test]
fn bad_values_are_one_line_that_names_the_option() {
    for bad in [
        "uploads=0",
        "threads=0",
        "prefetch=257",
        "umask=9",
        "uid=abc",
        "dir_cache=-1",
        "attr_cache=nan",
        "writeback_delay=1e300",
        "drain_timeout=inf",
        "read_ahead_kb=-1",
    ] {
        let e = MountSettings::default().apply(bad).unwrap_err();
        assert!(e.starts_with(&format!("mount option {bad}: ")) && !e.contains('\n'), "{bad}: {e}");
    }
    let e = MountSettings::default().apply("prefetch=300").unwrap_err();
    assert_eq!(e, format!("mount option prefetch=300: at most {MAX_PREFETCH} listings in flight"));
    MountSettings::default().apply(&format!("prefetch={MAX_PREFETCH}")).unwrap();
}

#[test]
fn fstab_words_are_ignored_and_unknown_words_refused() {
    let mut s = MountSettings::default();
    s.apply("defaults,_netdev,x-systemd.automount,comment=jotta,nofail").unwrap();
    assert_eq!(format!("{s:?}"), format!("{:?}", MountSettings::default()));
    let e = MountSettings::default().apply("bogus=1").unwrap_err();
    assert!(e.starts_with("unknown mount option 'bogus=1'"), "{e}");
}

#[test]
fn help_lists_every_option_on_a_line_with_its_default() {
    let help = help_text();
    for o in OPTIONS {
        let line = help.lines().find(|l| l.split_whitespace().next() == Some(&o.usage()));
        let line = line.unwrap_or_else(|| panic!("no line for {} in\n{help}", o.usage()));
        assert!(line.contains(&o.default.text()) && line.ends_with(o.help), "{line}");
    }
    assert!(IGNORED.iter().all(|w| help.contains(w)) && help.contains("x-*"), "{help}");
}

const README_BEGIN: &str = "<!-- mount options: generated from src/mount/option_table.rs, checked by its tests -->\n";
const README_END: &str = "<!-- end of mount options -->";

#[test]
fn readme_has_the_table_of_mount_options() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split_once(README_BEGIN)
        .and_then(|(_, rest)| rest.split_once(README_END))
        .map(|(table, _)| table)
        .unwrap_or_else(|| panic!("README.md has no section between {README_BEGIN:?} and {README_END:?}"));
    let expected = markdown_table();
    assert!(
        section == expected,
        "README.md's mount option table differs from src/mount/option_table.rs; it should read:\n{expected}"
    );
}

#[test]
fn the_help_states_the_prefetch_bound_it_enforces() {
    let prefetch = find("prefetch").expect("prefetch is an option");
    assert!(prefetch.help.contains(&format!("at most {MAX_PREFETCH}")), "{}", prefetch.help);
}

#[test]
fn the_shipped_fstab_example_parses() {
    let fstab = include_str!("../../../contrib/fstab.example");
    let lines: Vec<&str> = fstab.lines().filter(|l| l.contains("fuse.jottafuse") && !l.starts_with('#')).collect();
    assert!(!lines.is_empty(), "contrib/fstab.example has a fuse.jottafuse line");
    for line in lines {
        let options = line.split_whitespace().nth(3).expect("fstab's fourth column");
        MountSettings::default().apply(options).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}
