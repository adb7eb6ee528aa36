//! The demo account's sample tree, created once when a data dir is new: a few text files, photos, a
//! 5 MiB video-sized file, nested folders, a name with a space and non-ASCII letters, a backup device
//! `laptop` with a `Documents` mount point, and one file in the trash.

use super::errors::Outcome;
use super::store::Store;
use super::timefmt;

const README: &str = "This is the jottafuse demo account.\n\n\
It is served by the JottaCloud emulator that ships with jottafuse (`jotta emulator`), so nothing here\n\
ever leaves this machine. Browse it, copy files in and out, delete and restore them: it behaves like\n\
the real service, trash and revisions included.\n";

fn path(p: &str) -> Vec<String> {
    p.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// Deterministic pseudo-random bytes (a tiny LCG), so demo content is the same on every machine.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn put(store: &mut Store, p: &str, data: &[u8], t: i64) -> Outcome<u64> {
    let segs = path(p);
    let (md5, size) = store.blobs.put_bytes(data).map_err(super::errors::Failure::from_io)?;
    let parent = store.mkdir_p(&segs[..segs.len() - 1])?;
    store.put_content(parent, &segs[segs.len() - 1], &md5, size, t, t)
}

pub fn populate(store: &mut Store) -> Outcome<()> {
    let t = timefmt::now() - 86_400;
    put(store, "Jotta/Archive/README.txt", README.as_bytes(), t)?;
    put(store, "Jotta/Archive/notes.txt", b"Shopping: milk, bread, coffee.\n", t)?;
    put(store, "Jotta/Archive/Photos/beach.jpg", &noise(48 * 1024, 1), t)?;
    put(store, "Jotta/Archive/Photos/mountain.png", &noise(96 * 1024, 2), t)?;
    put(store, "Jotta/Archive/Videos/sample.bin", &noise(5 * 1024 * 1024, 3), t)?;
    put(store, "Jotta/Archive/Projects/2024/report/draft.md", b"# Draft\n\nNested three folders deep.\n", t)?;
    put(store, "Jotta/Archive/Projects/2024/budget.csv", b"item,amount\ncoffee,12\n", t)?;
    put(store, "Jotta/Archive/Blåbær og fjøs.txt", "Et navn med mellomrom og æøå.\n".as_bytes(), t)?;
    store.mkdir_p(&path("Jotta/Archive/Empty folder"))?;
    let (laptop, _) = store.create_device("laptop", "LAPTOP")?;
    store.create_mount_point(laptop, "Documents")?;
    put(store, "laptop/Documents/cv.txt", b"Curriculum vitae of the demo user.\n", t)?;
    put(store, "laptop/Documents/letters/hello.txt", b"Hello from the laptop backup.\n", t)?;
    let trashed = put(store, "Jotta/Archive/old-notes.txt", b"Notes nobody needs any more.\n", t)?;
    store.soft_delete(trashed)?;
    Ok(())
}
