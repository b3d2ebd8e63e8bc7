//! Sessions: tokens that carry a client's causal position between requests and regions.

mod token;

pub use token::{GroupPosition, MAX_GROUPS, SessionKeys, SessionToken, TokenError};
