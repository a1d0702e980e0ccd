//! `autogit ca init|issue`: the internal certificate authority, for HTTPS without a public CA and
//! for runners' client certificates (mutual TLS on the runner port, `[tls] client_ca_file`).
//!
//! The CA is an ECDSA P-256 key and a self-signed certificate in `<dir>/ca.key` (0600) and
//! `<dir>/ca.crt`; its subject name is kept in `<dir>/ca.name` so that certificates issued later
//! name it exactly. `issue` writes `<name>.crt` and `<name>.key` (0600): a server certificate for
//! the given DNS names and addresses, or with `--client` a client certificate (`clientAuth`)
//! whose subject is `<name>`.

use anyhow::{Context, Result, bail};
use chrono::{Datelike, TimeDelta, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, date_time_ymd,
};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

const CA_DAYS: i64 = 3650;

/// A date `days` from today (UTC), as certificates carry it.
macro_rules! day {
    ($days:expr) => {{
        let d = Utc::now() + TimeDelta::days($days);
        date_time_ymd(d.year(), d.month() as u8, d.day() as u8)
    }};
}

fn ca_params(name: &str) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(p)
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(f.sync_all()?)
}

/// Creates the CA in `dir`; refuses to replace one.
pub fn init(dir: &Path) -> Result<()> {
    if dir.join("ca.key").exists() {
        bail!("{} already holds a CA; certificates it issued would stop verifying if it were replaced", dir.display());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let name = format!("AutoGit internal CA {:08x}", rand::random::<u32>());
    let mut params = ca_params(&name)?;
    params.not_before = day!(-1);
    params.not_after = day!(CA_DAYS);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    write_private(&dir.join("ca.key"), &key.serialize_pem())?;
    std::fs::write(dir.join("ca.crt"), cert.pem())?;
    std::fs::write(dir.join("ca.name"), &name)?;
    println!(
        "created {name}: {} (give this to clients and runners), {} (keep private)",
        dir.join("ca.crt").display(),
        dir.join("ca.key").display()
    );
    Ok(())
}

/// What `issue` makes.
pub struct Issue<'a> {
    pub name: &'a str,
    pub dns: &'a [String],
    pub ips: &'a [std::net::IpAddr],
    pub client: bool,
    pub days: i64,
    pub out: &'a Path,
}

pub fn issue(dir: &Path, req: &Issue<'_>) -> Result<()> {
    if req.name.is_empty() || !req.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        bail!("--name {:?}: letters, digits, '-', '_' and '.' only", req.name);
    }
    if !req.client && req.dns.is_empty() && req.ips.is_empty() {
        bail!("a server certificate needs --dns or --ip (or --client for a runner's client certificate)");
    }
    if !(1..=825).contains(&req.days) {
        bail!("--days {}: 1 to 825", req.days);
    }
    let ca_name = std::fs::read_to_string(dir.join("ca.name"))
        .with_context(|| format!("no CA in {}: run `autogit ca init`", dir.display()))?;
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key"))?).context("reading ca.key")?;
    let issuer = Issuer::new(ca_params(ca_name.trim())?, ca_key);
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, req.name);
    p.distinguished_name = dn;
    for d in req.dns {
        p.subject_alt_names.push(SanType::DnsName(d.clone().try_into().with_context(|| format!("--dns {d:?}"))?));
    }
    for ip in req.ips {
        p.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages =
        vec![if req.client { ExtendedKeyUsagePurpose::ClientAuth } else { ExtendedKeyUsagePurpose::ServerAuth }];
    p.not_before = day!(-1);
    p.not_after = day!(req.days);
    let key = KeyPair::generate()?;
    let cert = p.signed_by(&key, &issuer)?;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(req.out)?;
    let (crt, key_path) = (req.out.join(format!("{}.crt", req.name)), req.out.join(format!("{}.key", req.name)));
    write_private(&key_path, &key.serialize_pem())?;
    std::fs::write(&crt, cert.pem())?;
    println!(
        "issued {} ({}, {} days): {}, {}",
        req.name,
        if req.client { "client" } else { "server" },
        req.days,
        crt.display(),
        key_path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_is_never_replaced_and_issues_under_its_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca");
        init(&ca).expect("init");
        assert!(init(&ca).is_err(), "a second init refuses");
        let req = Issue { name: "runner-1", dns: &[], ips: &[], client: true, days: 30, out: dir.path() };
        issue(&ca, &req).expect("issue");
        let pem = std::fs::read_to_string(dir.path().join("runner-1.crt")).expect("crt");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(issue(&ca, &Issue { client: false, ..req }).is_err(), "a server certificate needs names");
        assert!(issue(&ca, &Issue { name: "../x", client: true, ..req }).is_err());
    }
}
