//! Authentication shared by every service that checks tokens.
//!
//! Two kinds of bearer token are accepted:
//! - HS256 tokens this system issues, signed with `BETTER_AUTH_SECRET`;
//! - EdDSA tokens from an external Better Auth server, checked against its JWKS
//!   (`AUTH_JWKS_URL`), so a Next.js + Better Auth front end can use these services unchanged.

mod claims;
mod jwks;
mod password;
mod tokens;

pub use claims::{Claims, TokenError};
pub use jwks::{JwksConfig, JwksVerifier};
pub use password::{PasswordError, Passwords};
pub use tokens::{TokenConfig, TokenIssuer, TokenVerifier};
