//! `parallel: N` and `parallel:matrix` — parsing, the size check, and instance naming.
//!
//! The number of instances is computed (saturating) *before* anything is expanded, so a
//! 10,000-job matrix costs one multiplication and a diagnostic, not 10,000 jobs.

use crate::diagnostic::Diags;
use crate::values;
use crate::yaml::Node;

/// GitLab's limit on instances of one job.
pub const MAX_INSTANCES: u64 = 200;

/// One matrix entry: variables in written order, each with its values.
pub type Entry = Vec<(String, Vec<String>)>;

/// A job's parallelism.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Parallel {
    #[default]
    None,
    Count(u32),
    Matrix(Vec<Entry>),
}

/// Parses `parallel:`; `job` names the job in messages.
pub fn parse(n: &Node, job: &str, d: &mut Diags) -> Parallel {
    if let Some(count) = n.as_int() {
        if !(1..=MAX_INSTANCES as i64).contains(&count) {
            d.error(n.pos, format!("`{job}`: parallel must be between 1 and {MAX_INSTANCES}, found {count}"));
            return Parallel::None;
        }
        return Parallel::Count(count as u32);
    }
    let Some(list) = n.as_map().and_then(|m| m.get("matrix")) else {
        d.error(n.pos, format!("`{job}`: parallel must be a number or `matrix: [...]`"));
        return Parallel::None;
    };
    let Some(items) = list.as_seq() else {
        d.error(list.pos, format!("`{job}`: parallel:matrix must be a list of maps"));
        return Parallel::None;
    };
    let mut entries = Vec::new();
    let mut total: u64 = 0;
    for item in items {
        let Some(m) = item.as_map() else {
            d.error(item.pos, format!("`{job}`: parallel:matrix entries must be maps"));
            return Parallel::None;
        };
        let mut entry: Entry = Vec::new();
        let mut size: u64 = 1;
        for e in &m.entries {
            let vals = values::strings(&e.value, d, "parallel:matrix values");
            size = size.saturating_mul(vals.len() as u64);
            entry.push((e.key.clone(), vals));
        }
        total = total.saturating_add(size);
        if total > MAX_INSTANCES {
            d.error(list.pos, format!("`{job}`: parallel:matrix would create more than {MAX_INSTANCES} jobs"));
            return Parallel::None;
        }
        entries.push(entry);
    }
    Parallel::Matrix(entries)
}

/// How many jobs `p` makes (1 without parallelism); cheap, nothing is expanded.
pub fn instances_count(p: &Parallel) -> usize {
    match p {
        Parallel::None => 1,
        Parallel::Count(n) => *n as usize,
        Parallel::Matrix(entries) => entries
            .iter()
            .map(|e| e.iter().fold(1usize, |acc, (_, v)| acc.saturating_mul(v.len())))
            .fold(0usize, usize::saturating_add),
    }
}

/// One instance: its name, 1-based index, and matrix variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub name: String,
    pub index: u32,
    pub total: u32,
    pub vars: Vec<(String, String)>,
}

/// Expands a job into its instances (`job 1/3`, `job: [a, x]`). Bounded by [`parse`]'s check.
pub fn instances(job: &str, p: &Parallel) -> Vec<Instance> {
    match p {
        Parallel::None => Vec::new(),
        Parallel::Count(n) => (1..=*n)
            .map(|i| Instance { name: format!("{job} {i}/{n}"), index: i, total: *n, vars: Vec::new() })
            .collect(),
        Parallel::Matrix(entries) => {
            let combos: Vec<Vec<(String, String)>> = entries.iter().flat_map(product).collect();
            let total = combos.len() as u32;
            combos
                .into_iter()
                .enumerate()
                .map(|(i, vars)| {
                    let vals: Vec<&str> = vars.iter().map(|(_, v)| v.as_str()).collect();
                    Instance { name: format!("{job}: [{}]", vals.join(", ")), index: i as u32 + 1, total, vars }
                })
                .collect()
        }
    }
}

/// The cartesian product of one entry, first variable varying slowest.
fn product(entry: &Entry) -> Vec<Vec<(String, String)>> {
    let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (k, vals) in entry {
        out = out
            .iter()
            .flat_map(|prefix| {
                vals.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((k.clone(), v.clone()));
                    p
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Pos;
    use crate::yaml::{Budget, Limits, load};

    fn parse_text(src: &str) -> (Parallel, Diags) {
        let mut d = Diags::default();
        let docs = load(src, 0, &Limits::default(), &mut Budget::default()).expect("yaml");
        let p = parse(&docs[0], "job", &mut d);
        (p, d)
    }

    #[test]
    fn count_names() {
        let (p, _) = parse_text("3");
        let names: Vec<String> = instances("test", &p).into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["test 1/3", "test 2/3", "test 3/3"]);
    }

    #[test]
    fn matrix_product_and_names() {
        let (p, d) = parse_text("matrix:\n  - OS: [linux, mac]\n    ARCH: [x86, arm]\n  - OS: win\n");
        assert!(!d.has_errors());
        let inst = instances("build", &p);
        let names: Vec<&str> = inst.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["build: [linux, x86]", "build: [linux, arm]", "build: [mac, x86]", "build: [mac, arm]", "build: [win]"]
        );
        assert_eq!(inst[4].index, 5);
        assert_eq!(inst[4].total, 5);
        assert_eq!(inst[1].vars, [("OS".into(), "linux".into()), ("ARCH".into(), "arm".into())]);
    }

    #[test]
    fn huge_matrix_is_a_diagnostic() {
        let vals: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let src = format!("matrix:\n  - A: [{0}]\n    B: [{0}]\n", vals.join(", "));
        let (p, d) = parse_text(&src);
        assert_eq!(p, Parallel::None);
        assert!(d.list[0].message.contains("more than 200"));
        let _ = Pos::default();
    }
}
