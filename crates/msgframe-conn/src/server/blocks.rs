//! Read blocks lent to connections only while they hold bytes: a connection between messages
//! gives its block back at once, so that many mostly idle connections take turns with a few
//! blocks instead of holding one each (a burst of 10,000 short exchanges then never holds 10,000
//! blocks at once).
//!
//! One pool per thread: a connection's task takes a block from the pool of the thread it runs on
//! and gives it back to the pool of the thread it runs on then. Blocks are reused as they are
//! (zeroed once, when they were allocated); a pool keeps at most [`POOL_BYTES`] of them, and the
//! rest go back to the allocator.

use std::cell::RefCell;

use bytes::BytesMut;

/// The most bytes of blocks one thread's pool keeps.
const POOL_BYTES: usize = 1024 * 1024;

struct Pool {
    blocks: Vec<BytesMut>,
    bytes: usize,
}

thread_local! {
    static POOL: RefCell<Pool> = const { RefCell::new(Pool { blocks: Vec::new(), bytes: 0 }) };
}

/// A block from this thread's pool, if it has one.
pub(crate) fn take() -> Option<BytesMut> {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let block = pool.blocks.pop()?;
        pool.bytes -= block.len();
        Some(block)
    })
}

/// Gives `block` to this thread's pool, or to the allocator when the pool is full.
pub(crate) fn give(block: BytesMut) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.bytes + block.len() <= POOL_BYTES {
            pool.bytes += block.len();
            pool.blocks.push(block);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_given_is_taken_again_on_the_same_thread() {
        give(BytesMut::from(&[0u8; 4096][..]));
        let block = take().expect("the block given");
        assert_eq!(block.len(), 4096);
        assert!(take().is_none());
    }

    #[test]
    fn a_full_pool_lets_blocks_go() {
        for _ in 0..(POOL_BYTES / 65536 + 4) {
            give(BytesMut::from(&vec![0u8; 65536][..]));
        }
        let mut kept = 0;
        while take().is_some() {
            kept += 1;
        }
        assert_eq!(kept, POOL_BYTES / 65536);
    }
}
