//! Read blocks lent to connections (the server's, and long clients' over plain TCP) only while
//! they hold bytes: a connection between messages gives its block back at once, so that many
//! mostly idle connections take turns with a few blocks instead of holding one each (a burst of
//! 10,000 short exchanges then never holds 10,000 blocks at once).
//!
//! One pool for the process: a connection takes a block just before it reads and gives it back
//! as soon as it is between messages, so few blocks are out at once (about one per thread reading,
//! plus one per connection inside a message). Blocks are reused as they are (zeroed once, when they
//! were allocated); the pool keeps at most [`POOL_BYTES`] of them, and the rest go back to the
//! allocator.

use std::sync::Mutex;

use bytes::BytesMut;

/// The most bytes of blocks the pool keeps.
const POOL_BYTES: usize = 256 * 1024;

struct Pool {
    blocks: Vec<BytesMut>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    blocks: Vec::new(),
    bytes: 0,
});

/// A block from the pool, if it has one.
pub(crate) fn take() -> Option<BytesMut> {
    let mut pool = POOL.lock().ok()?;
    let block = pool.blocks.pop()?;
    pool.bytes -= block.len();
    Some(block)
}

/// Gives `block` to the pool, or to the allocator when the pool is full.
pub(crate) fn give(block: BytesMut) {
    let Ok(mut pool) = POOL.lock() else { return };
    if pool.bytes + block.len() <= POOL_BYTES {
        pool.bytes += block.len();
        pool.blocks.push(block);
    }
}

/// Gives `reader` a block from the pool when it has none (else it allocates its own when it
/// reads).
pub(crate) fn lend<R: tokio::io::AsyncRead + Unpin, D: msgframe_codec::Decoder>(
    reader: &mut msgframe_tokio::MessageReader<R, D>,
) {
    if !reader.has_block() {
        if let Some(block) = take() {
            let _ = reader.put_block(block);
        }
    }
}

/// Takes `reader`'s block back into the pool when it holds no bytes; whether it did.
pub(crate) fn reclaim<R: tokio::io::AsyncRead + Unpin, D: msgframe_codec::Decoder>(
    reader: &mut msgframe_tokio::MessageReader<R, D>,
) -> bool {
    match reader.take_idle_block() {
        Some(block) => {
            give(block);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_given_are_taken_again_and_a_full_pool_lets_them_go() {
        // One test: the pool is the process's.
        give(BytesMut::from(&[0u8; 4096][..]));
        let block = take().expect("the block given");
        assert_eq!(block.len(), 4096);
        while take().is_some() {}
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
