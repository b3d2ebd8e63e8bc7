//! What a document request resolves once, in the first layer that needs it (the proxy
//! middleware), and every later step reads: who serves the collection
//! (`placement::Resolved`) and the consistency level the request asks for, parsed once.

use std::sync::Arc;

use axum::Extension;
use axum::http::HeaderMap;

use super::ApiContext;
use super::error::ApiError;
use super::headers;
use crate::consistency::Consistency;
use crate::placement::Resolved;

#[derive(Clone)]
pub struct Scope {
    pub resolved: Arc<Resolved>,
    /// `x-georep-consistency` as parsed: None when absent; the error names the header.
    pub consistency: Result<Option<Consistency>, ApiError>,
}

impl Scope {
    pub fn new(ctx: &ApiContext, collection: &str, headers: &HeaderMap) -> Scope {
        Scope {
            resolved: Arc::new(ctx.resolve(collection)),
            consistency: headers::consistency(headers),
        }
    }

    /// The request's scope as the middleware left it, or resolved now: a handler that sees
    /// another collection than the middleware did (a percent-encoded path segment, which
    /// the router decodes) must not serve it from the other's placement.
    pub fn of(
        ext: Option<Extension<Scope>>,
        ctx: &ApiContext,
        collection: &str,
        headers: &HeaderMap,
    ) -> Scope {
        match ext {
            Some(Extension(s)) if s.resolved.collection == collection => s,
            _ => Scope::new(ctx, collection, headers),
        }
    }

    /// The level the request is served at: its own, else the collection's default.
    pub fn level(&self) -> Consistency {
        match &self.consistency {
            Ok(Some(c)) => *c,
            _ => self.resolved.default_level,
        }
    }

    /// The metrics label: the level the request named ("default" if none, or unparseable).
    pub fn label(&self) -> &'static str {
        match &self.consistency {
            Ok(Some(c)) => c.as_str(),
            _ => "default",
        }
    }
}
