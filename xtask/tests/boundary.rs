//! Fails when a public `App` method is not a user use-case, or the store leaves the app crate
//! (see ARCHITECTURE.md, "crates/app").

use std::path::Path;

#[test]
fn app_methods_are_use_cases_and_system_keeps_the_store() {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/app/src"));
    let errors = xtask::boundary::check_dir(src);
    assert!(errors.is_empty(), "App boundary violations:\n{}", errors.join("\n"));
}

/// The checker itself must catch each kind of violation, or the test above proves nothing.
#[test]
fn checker_catches_violations() {
    let src = r#"
        impl App {
            pub fn new() -> Self { todo!() }
            pub async fn list(&self, who: &Principal) -> Result<Vec<X>> { todo!() }
            pub async fn request_job(&self, token: &str) -> Result<()> { todo!() }
            pub(crate) fn helper(&self) {}
            pub fn store(&self) -> &dyn Store { todo!() }
        }
        impl System<'_> {
            pub async fn renew(&self) -> Result<()> { todo!() }
            pub fn repos(&self) -> &RepoStorage { todo!() }
        }
        #[cfg(test)]
        mod tests {
            impl App { pub fn only_in_tests(&self) {} }
        }
    "#;
    let errors = xtask::boundary::check_source("fake.rs", src);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(errors[0].contains("fake.rs: App::request_job") && errors[0].contains("Principal"));
    assert!(errors[1].contains("fake.rs: App::store returns storage"));
    assert!(errors[2].contains("fake.rs: App::store") && errors[2].contains("Principal"));
    assert!(errors[3].contains("fake.rs: System::repos returns storage"));
}
