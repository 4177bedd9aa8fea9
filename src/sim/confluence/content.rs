//! Attachment bytes generated on the fly from `(id, size, seed)`, so an
//! attachment of any size costs one 64 KiB block of memory to serve, and a
//! test can compute the expected bytes or digest without a copy on disk.
//!
//! Block `k` of the content is a pseudo-random 64 KiB block derived from the
//! id and seed, with its first eight bytes XOR-ed with `k`: every block
//! differs, and producing one is a copy plus eight XORs (cheap even in a
//! debug build, which matters for the 1 GiB streaming test).

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use sha2::{Digest, Sha256};

/// Size of one generated block and of the chunks the simulator streams.
pub const BLOCK_SIZE: usize = 64 * 1024;

/// The deterministic content of one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentContent {
    size: u64,
    base: Bytes,
}

impl AttachmentContent {
    pub fn new(id: &str, size: u64, seed: u64) -> Self {
        let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
        for byte in id.bytes() {
            state = splitmix64(state ^ u64::from(byte));
        }
        let mut base = Vec::with_capacity(BLOCK_SIZE);
        while base.len() < BLOCK_SIZE {
            state = splitmix64(state);
            base.extend_from_slice(&state.to_le_bytes());
        }
        AttachmentContent {
            size,
            base: Bytes::from(base),
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Block `index` (the last one may be shorter than [`BLOCK_SIZE`]).
    pub fn block(&self, index: u64) -> Bytes {
        let start = index * BLOCK_SIZE as u64;
        let len = (self.size.saturating_sub(start)).min(BLOCK_SIZE as u64) as usize;
        let mut block = self.base[..len].to_vec();
        for (byte, k) in block.iter_mut().zip(index.to_le_bytes()) {
            *byte ^= k;
        }
        Bytes::from(block)
    }

    fn block_count(&self) -> u64 {
        self.size.div_ceil(BLOCK_SIZE as u64)
    }

    /// The content as a stream of blocks.
    pub fn stream(&self) -> impl Stream<Item = Bytes> + Send + 'static {
        let content = self.clone();
        futures::stream::iter(0..self.block_count()).map(move |index| content.block(index))
    }

    /// All bytes in memory: for small attachments in tests only.
    pub fn to_vec(&self) -> Vec<u8> {
        (0..self.block_count())
            .flat_map(|i| self.block(i))
            .collect()
    }

    /// SHA-256 of the content, computed block by block.
    pub fn sha256(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        for index in 0..self.block_count() {
            hasher.update(self.block(index));
        }
        hasher.finalize().into()
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_sized_and_distinct_per_block() {
        let size = 2 * BLOCK_SIZE as u64 + 10;
        let content = AttachmentContent::new("att1", size, 3);
        let bytes = content.to_vec();
        assert_eq!(bytes.len() as u64, size);
        assert_eq!(bytes, AttachmentContent::new("att1", size, 3).to_vec());
        assert_ne!(bytes, AttachmentContent::new("att2", size, 3).to_vec());
        assert_ne!(bytes[..BLOCK_SIZE], bytes[BLOCK_SIZE..2 * BLOCK_SIZE]);
        assert_eq!(content.sha256(), <[u8; 32]>::from(Sha256::digest(&bytes)));
    }

    #[tokio::test]
    async fn the_stream_yields_exactly_the_bytes() {
        let content = AttachmentContent::new("x", BLOCK_SIZE as u64 + 1, 0);
        let streamed: Vec<u8> = content.stream().map(|b| b.to_vec()).concat().await;
        assert_eq!(streamed, content.to_vec());
        assert_eq!(
            AttachmentContent::new("empty", 0, 0).to_vec(),
            Vec::<u8>::new()
        );
    }
}
