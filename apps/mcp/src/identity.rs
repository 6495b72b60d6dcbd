//! Who is asking: the user the token middleware verified and put into the HTTP request before
//! any MCP message is read.

use todo_core::http::AuthUser;

/// The signed-in user, put into the HTTP request by the token middleware before any MCP message
/// is read; missing only if the server is mounted without that middleware.
pub fn signed_in(parts: &http::request::Parts) -> Result<&AuthUser, String> {
    parts
        .extensions
        .get::<AuthUser>()
        .ok_or_else(|| "not signed in".to_string())
}
