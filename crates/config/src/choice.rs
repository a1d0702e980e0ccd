//! Settings that take one of a few spellings (`log.format`, `ci.builtin_runner_mode`, a pool's
//! `provider`…) as enums. The file and `AUTOGIT_*` variables keep their spellings; a value that is
//! not one of them fails to load with a message naming the setting, the value and every allowed
//! one, so nothing downstream compares strings or falls back to a default.

/// Declares a choice: `as_str`, `NAMES`, `Display`, `FromStr` and `Deserialize` from one table.
macro_rules! config_choice {
    ($(#[$m:meta])* $name:ident ($key:literal) { $($(#[$vm:meta])* $var:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)* }

        impl $name {
            /// Every accepted spelling, in declaration order.
            pub const NAMES: &[&str] = &[$($s,)*];

            /// The spelling in the configuration.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s,)* }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<$name, String> {
                match s {
                    $($s => Ok($name::$var),)*
                    _ => Err($crate::choice::not_one_of($key, s, $name::NAMES)),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use config_choice;

/// `key = "value" is not one of "a", "b" or "c"`.
pub(crate) fn not_one_of(key: &str, value: &str, allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    let list = match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.join(""),
    };
    format!("{key} = {value:?} is not one of {list}")
}
