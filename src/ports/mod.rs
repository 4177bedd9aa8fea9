//! Ports: the traits the application needs from Confluence and Unique.
//! Adapters implement them; the sync is generic over them.

pub mod confluence;
pub mod error;
pub mod knowledge_base;

pub use confluence::{BodyFetch, ByteStream, ConfluenceSource};
pub use error::{ErrorKind, PortError};
pub use knowledge_base::KnowledgeBase;
