//! One shell word from any string: how the runner agent writes job scripts and fetch commands,
//! and how the fleet writes the `autogit runner` command lines it runs in containers and on hosts.
//!
//! It lives here because the agent and the fleet may share nothing else: both speak to a POSIX
//! shell on the far side of the wire, and this is the one form they write for it.

/// `s` single-quoted for a POSIX shell (sh, bash): the shell reads it back as exactly one word
/// equal to `s`, whatever it holds (quotes, line breaks, `$()`, backticks, a leading `-`, nothing).
/// A `'` inside is written as `'\''`: close the quote, an escaped quote, reopen.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quote;
    use std::process::Command;

    const HOSTILE: &[&str] = &[
        "",
        "plain",
        "two words",
        "it's",
        "''",
        "'",
        "\"double\" quotes",
        "line\nbreak\n",
        "$(touch /tmp/autogit-shell-quote-pwned)",
        "`id`",
        "${HOME} $HOME $$",
        "-n",
        "--help",
        "-e \\n",
        "back\\slash\\",
        "; rm -rf / #",
        "a'b\"c`d$e\\f",
        "tab\there * ? [x] ~ & | < > !",
        "ünïcödé ✓",
    ];

    /// Runs `printf '%s\0' <quoted words>` in `sh -c` and returns the words sh passed to printf.
    fn words_through_sh(words: &[&str]) -> Vec<String> {
        let line = format!("printf '%s\\0' {}", words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "));
        let out = Command::new("sh").arg("-c").arg(&line).output().expect("sh runs");
        assert!(out.status.success(), "sh -c {line:?}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).expect("printf prints what it was given");
        let mut words: Vec<String> = text.split('\0').map(str::to_string).collect();
        assert_eq!(words.pop().as_deref(), Some(""), "each word ends with NUL: {text:?}");
        words
    }

    #[test]
    fn every_string_comes_back_from_sh_as_one_equal_word() {
        for s in HOSTILE {
            assert_eq!(words_through_sh(&[s]), vec![s.to_string()], "quoted as {}", quote(s));
        }
    }

    #[test]
    fn quoted_words_stay_apart_on_one_command_line() {
        let back = words_through_sh(HOSTILE);
        assert_eq!(back, HOSTILE.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }

    #[test]
    fn the_quoted_form_is_single_quotes_with_escaped_single_quotes() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
