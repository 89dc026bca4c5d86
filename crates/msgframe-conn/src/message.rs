//! What the clients accept as a message body.

use bytes::{Bytes, BytesMut};

/// A message body a client can send: `Bytes`, `BytesMut`, `Vec<u8>`, `Box<[u8]>` and `String` are
/// taken without copying; borrowed bytes (`&[u8]`, `&[u8; N]`, `&str`) are copied once.
pub trait IntoMessage {
    /// The body as `Bytes`.
    fn into_message(self) -> Bytes;
}

impl IntoMessage for Bytes {
    fn into_message(self) -> Bytes {
        self
    }
}

impl IntoMessage for BytesMut {
    fn into_message(self) -> Bytes {
        self.freeze()
    }
}

impl IntoMessage for Vec<u8> {
    fn into_message(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoMessage for Box<[u8]> {
    fn into_message(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoMessage for String {
    fn into_message(self) -> Bytes {
        Bytes::from(self)
    }
}

impl IntoMessage for &[u8] {
    fn into_message(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<const N: usize> IntoMessage for &[u8; N] {
    fn into_message(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl IntoMessage for &str {
    fn into_message(self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }
}

/// What request matching needs of a key: comparable, hashable, printable, and movable between
/// tasks. Implemented for every such type.
pub trait Key: Eq + std::hash::Hash + Clone + std::fmt::Debug + Send + Sync + 'static {}
impl<T: Eq + std::hash::Hash + Clone + std::fmt::Debug + Send + Sync + 'static> Key for T {}

/// A function finding a message's request key.
pub(crate) type KeyFn<K> = std::sync::Arc<dyn Fn(&[u8]) -> Option<K> + Send + Sync>;
