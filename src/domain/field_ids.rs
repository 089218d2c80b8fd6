//! Ortto's built-in person field ids that the relay reads or writes itself (docs/mapping.md).

pub const EMAIL: &str = "str::email";
pub const FIRST: &str = "str::first";
pub const LAST: &str = "str::last";
pub const NAME: &str = "str::name";
pub const PHONE: &str = "phn::phone";
/// Email permission: `true` subscribes. Sent only together with [`PERMISSION_CONTEXT`].
pub const PERMISSION: &str = "bol::p";
/// Where and when the permission was given or refused, in words.
pub const PERMISSION_CONTEXT: &str = "str::s-ctx";
