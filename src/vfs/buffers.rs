//! Pools of large byte buffers kept for reuse. A fresh multi-MiB buffer costs a page fault and a page
//! clearing per 4 KiB on first touch, which at streaming speed is a large share of the daemon's CPU
//! (measured: most of the page faults of a streaming read, and of a large write's copies for the md5).
//! A buffer is made at least as long as its user's largest request, so any idle one fits any request;
//! a full pool keeps the largest buffers. Once a pool has gone unused for a while (the mount is idle),
//! its buffers are given back to the system (`release_if_quiet`), so an idle daemon holds no memory for
//! work that is over.

use crate::direct_io::AlignedBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A buffer a pool can keep: plain (`Vec<u8>`) or page-aligned (`AlignedBuf`).
pub trait Reusable: Sized {
    /// Empty, with room for at least `cap` bytes.
    fn with_capacity(cap: usize) -> Self;
    fn capacity(&self) -> usize;
    fn clear(&mut self);
}

impl Reusable for Vec<u8> {
    fn with_capacity(cap: usize) -> Self {
        Vec::with_capacity(cap)
    }
    fn capacity(&self) -> usize {
        Vec::capacity(self)
    }
    fn clear(&mut self) {
        Vec::clear(self)
    }
}

impl Reusable for AlignedBuf {
    fn with_capacity(cap: usize) -> Self {
        AlignedBuf::new(cap)
    }
    fn capacity(&self) -> usize {
        AlignedBuf::capacity(self)
    }
    fn clear(&mut self) {
        AlignedBuf::clear(self)
    }
}

pub struct BufferPool<B: Reusable> {
    idle: Mutex<Idle<B>>,
    /// At most this many idle buffers are kept.
    max: usize,
    /// Buffers shorter than this are not kept (small ones cost little to make afresh).
    keep_from: usize,
}

struct Idle<B> {
    buffers: Vec<B>,
    /// When a buffer was last taken or given back.
    last_use: Option<Instant>,
}

impl<B: Reusable> BufferPool<B> {
    pub const fn new(max: usize, keep_from: usize) -> Self {
        BufferPool { idle: Mutex::new(Idle { buffers: Vec::new(), last_use: None }), max, keep_from }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Idle<B>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for `len` bytes: an idle one, or a new one of at least `class` bytes.
    pub fn take(&self, len: usize, class: usize) -> B {
        let mut idle = self.lock();
        idle.last_use = Some(Instant::now());
        match idle.buffers.iter().position(|b| b.capacity() >= len) {
            Some(i) => idle.buffers.swap_remove(i),
            None => B::with_capacity(len.max(class)),
        }
    }

    /// Drop the idle buffers when none was taken or given back for `quiet`; the bytes given back.
    pub fn release_if_quiet(&self, quiet: Duration) -> usize {
        let released = {
            let mut idle = self.lock();
            if idle.last_use.is_some_and(|t| t.elapsed() < quiet) {
                return 0;
            }
            std::mem::take(&mut idle.buffers)
        };
        released.iter().map(|b| b.capacity()).sum()
    }

    /// Keep `buf` (emptied) for the next `take`, when it is long enough and there is room for it.
    pub fn give_back(&self, mut buf: B) {
        if buf.capacity() < self.keep_from {
            return;
        }
        buf.clear();
        let mut idle = self.lock();
        idle.last_use = Some(Instant::now());
        if idle.buffers.len() < self.max {
            idle.buffers.push(buf);
        } else if let Some(smallest) = idle.buffers.iter_mut().min_by_key(|b| b.capacity()) {
            if smallest.capacity() < buf.capacity() {
                *smallest = buf;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_given_back_is_taken_again_empty_and_a_full_pool_keeps_the_largest() {
        let pool = BufferPool::<Vec<u8>>::new(1, 1 << 10);
        let mut a = pool.take(100, 4 << 10);
        assert!(a.is_empty() && a.capacity() >= 4 << 10, "made to the class");
        a.extend_from_slice(&[1; 100]);
        let ptr = a.as_ptr();
        pool.give_back(a);
        let b = pool.take(3 << 10, 4 << 10);
        assert!(b.is_empty() && b.as_ptr() == ptr, "the same buffer, emptied");
        pool.give_back(vec![0; 10]);
        assert!(pool.take(1, 1).capacity() < 1 << 10, "a short buffer is not kept");
        pool.give_back(Vec::with_capacity(2 << 10));
        pool.give_back(b);
        let kept = pool.take(3 << 10, 1);
        assert!(kept.as_ptr() == ptr, "the larger of the two stayed");
    }

    #[test]
    fn an_unused_pool_gives_its_buffers_back_and_a_busy_one_keeps_them() {
        let pool = BufferPool::<Vec<u8>>::new(4, 1 << 10);
        pool.give_back(Vec::with_capacity(8 << 10));
        pool.give_back(Vec::with_capacity(4 << 10));
        assert_eq!(pool.release_if_quiet(Duration::from_secs(60)), 0, "used a moment ago");
        assert_eq!(pool.lock().buffers.len(), 2);
        std::thread::sleep(Duration::from_millis(20));
        assert!(pool.release_if_quiet(Duration::from_millis(10)) >= 12 << 10);
        assert!(pool.lock().buffers.is_empty());
        assert_eq!(pool.release_if_quiet(Duration::ZERO), 0, "nothing left to give");
        let again = pool.take(1 << 10, 2 << 10);
        assert!(again.capacity() >= 2 << 10, "and a later take makes a new one");
    }
}
