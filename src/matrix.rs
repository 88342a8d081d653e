//! `matrix a.json b.json …`: one self-contained HTML page comparing registries. Registries are
//! columns; rows are requirements and the cases under them, grouped by workflow; a summary chart
//! (inline SVG) and the optional features each registry supports come first. A few lines of
//! inline script filter the rows by level and workflow; the page needs nothing from the network.

use crate::config::exit;
use crate::report::html::esc;
use crate::report::json::{CaseRecord, Results};
use crate::report::shorten;
use crate::results::Outcome;
use crate::spec::{Feature, Suite, Workflow};
use clap::Args;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Args, Clone)]
#[command(
    after_help = "Exit codes: 0 page written; 2 a report is missing or not a results.json, \
or the page cannot be written."
)]
pub struct MatrixArgs {
    /// results.json files, one per registry (column), in column order
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Column names, in the same order (comma list); default: each report's directory name
    #[arg(long, env = "OCI_CONFORMANCE_MATRIX_LABELS", value_delimiter = ',')]
    pub label: Vec<String>,
    /// Where to write the page
    #[arg(
        long,
        short,
        env = "OCI_CONFORMANCE_MATRIX_OUTPUT",
        default_value = "reports/matrix.html"
    )]
    pub output: PathBuf,
}

/// One registry's column.
pub struct Column {
    pub label: String,
    pub results: Results,
    by_id: HashMap<String, usize>,
}

impl Column {
    pub fn new(label: String, results: Results) -> Column {
        let by_id = results
            .cases
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        Column {
            label,
            results,
            by_id,
        }
    }

    fn case(&self, id: &str) -> Option<&CaseRecord> {
        self.by_id.get(id).map(|&i| &self.results.cases[i])
    }
}

/// What a cell shows: an outcome class for the colour and a short text.
fn cell_class(o: Option<Outcome>) -> &'static str {
    match o {
        None => "o-absent",
        Some(Outcome::Pass | Outcome::UnexpectedPass) => "o-pass",
        Some(Outcome::Fail) => "o-fail",
        Some(Outcome::ExpectedFailure) => "o-xfail",
        Some(Outcome::Error) => "o-error",
        Some(Outcome::Unsupported) => "o-unsupported",
        Some(Outcome::Skip) => "o-skip",
    }
}

/// The summary chart's segments, in drawing order.
const SEGMENTS: [(&str, &str, &str); 6] = [
    ("pass", "o-pass", "#2e9d49"),
    ("fail", "o-fail", "#d7263d"),
    ("expected failure", "o-xfail", "#f08a9b"),
    ("error", "o-error", "#f29e1f"),
    ("unsupported", "o-unsupported", "#8aa4c8"),
    ("skip", "o-skip", "#d8d8d8"),
];

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
h1{margin:.2em 0}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;font-size:.85em;vertical-align:top}
th.reg{min-width:7em;background:#f4f4f4}th.reg small{font-weight:normal;color:#666}
tr.wf th{background:#333;color:#fff;text-align:left;font-size:1em}
tr.req td:first-child{font-weight:600}tr.case td:first-child{padding-left:2em;font-family:monospace}
td.lvl{text-align:center}td.c{text-align:center;white-space:nowrap}
.o-pass{background:#c9efd3}.o-fail{background:#f7b3bd}.o-xfail{background:#fbd6dc}
.o-error{background:#fbd9a5}.o-unsupported{background:#d9e3f1}.o-skip{background:#eee;color:#777}
.o-absent{background:#fff;color:#aaa}
#filters{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #ccc}
#filters label{margin-right:1.2em}.legend span{display:inline-block;padding:0 .5em;margin-right:.3em}
.chart text{font-size:12px;font-family:system-ui,sans-serif}";

/// Filters rows by the selects' values (kept in the URL's `#level=…&workflow=…&differ=1`, so a
/// filtered view can be linked); writes the registry column count to `data-matrix-ready` only
/// when it ran to the end (the browser check reads it).
const SCRIPT: &str = r#"window.addEventListener('error',function(e){document.body.setAttribute('data-script-error',String(e.message));});
(function(){
var lv=document.getElementById('f-level'),wf=document.getElementById('f-workflow'),df=document.getElementById('f-differ');
var rows=Array.prototype.slice.call(document.querySelectorAll('#matrix tbody tr[data-level]'));
var bodies=Array.prototype.slice.call(document.querySelectorAll('#matrix tbody'));
function apply(){
 var cases=0,reqs=0;
 rows.forEach(function(r){
  var show=(!lv.value||r.getAttribute('data-level')===lv.value)&&(!wf.value||r.getAttribute('data-workflow')===wf.value)&&(!df.checked||r.getAttribute('data-differs')==='1');
  r.hidden=!show;
  if(show){if(r.className==='case'){cases++;}else{reqs++;}}
 });
 bodies.forEach(function(b){b.hidden=!!wf.value&&b.getAttribute('data-workflow')!==wf.value;});
 document.getElementById('shown').textContent=reqs+' requirements, '+cases+' cases shown';
}
function save(){history.replaceState(null,'','#level='+lv.value+'&workflow='+wf.value+(df.checked?'&differ=1':''));apply();}
location.hash.replace(/^#/,'').split('&').forEach(function(kv){
 var p=kv.split('='),v=decodeURIComponent(p[1]||'');
 if(p[0]==='level'){lv.value=v;}else if(p[0]==='workflow'){wf.value=v;}else if(p[0]==='differ'){df.checked=v==='1';}
});
[lv,wf,df].forEach(function(e){e.addEventListener('change',save);});
apply();
document.body.setAttribute('data-matrix-ready',String(document.querySelectorAll('#matrix thead th.reg').length));
})();"#;

/// `R-007` before `R-010`, `AUTH-2` before `AUTH-10`: prefix, then number.
fn requirement_key(id: &str) -> (String, u64, String) {
    let (prefix, num) = id.rsplit_once('-').unwrap_or((id, ""));
    (
        prefix.to_string(),
        num.parse().unwrap_or(u64::MAX),
        id.to_string(),
    )
}

/// A requirement's cell: the worst outcome among its cases, with how many passed.
fn requirement_cell(outcomes: &[Outcome]) -> (&'static str, String) {
    let ran: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Skip | Outcome::Unsupported))
        .collect();
    let passed = ran
        .iter()
        .filter(|o| matches!(o, Outcome::Pass | Outcome::UnexpectedPass))
        .count();
    let worst = [
        Outcome::Fail,
        Outcome::ExpectedFailure,
        Outcome::Error,
        Outcome::Pass,
        Outcome::Unsupported,
        Outcome::Skip,
    ]
    .into_iter()
    .find(|w| {
        outcomes
            .iter()
            .any(|o| o == w || (*w == Outcome::Pass && *o == Outcome::UnexpectedPass))
    });
    match worst {
        None => ("o-absent", "—".into()),
        Some(w) if ran.is_empty() => (cell_class(Some(w)), w.as_str().into()),
        Some(w) => (cell_class(Some(w)), format!("{passed}/{} pass", ran.len())),
    }
}

/// A feature's cell for one registry: unsupported as soon as one of its cases said so.
fn feature_cell(outcomes: &[Outcome]) -> (&'static str, String) {
    let ran = outcomes
        .iter()
        .filter(|o| !matches!(o, Outcome::Skip | Outcome::Unsupported))
        .count();
    let failing = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Fail | Outcome::Error | Outcome::ExpectedFailure))
        .count();
    if outcomes.contains(&Outcome::Unsupported) {
        ("o-unsupported", "unsupported".into())
    } else if ran == 0 {
        ("o-skip", "not tested".into())
    } else if failing > 0 {
        (
            "o-fail",
            format!("supported, {failing} of {ran} cases fail"),
        )
    } else {
        ("o-pass", "supported".into())
    }
}

/// The page for these columns. `features` maps case ids to the optional features they exercise
/// (from the embedded case set: reports do not carry them).
pub fn render(columns: &[Column], features: &HashMap<String, Vec<Feature>>) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>OCI Distribution conformance matrix</title><style>{STYLE}</style></head>\
         <body data-matrix-ready=\"0\"><h1>OCI Distribution conformance matrix</h1>\
         <p>{} registries, compared by oci-conformance {}.</p>",
        columns.len(),
        env!("CARGO_PKG_VERSION")
    );
    summary_chart(&mut o, columns);
    feature_table(&mut o, columns, features);
    filters(&mut o);
    case_table(&mut o, columns);
    let _ = writeln!(o, "<script>{SCRIPT}</script></body></html>");
    o
}

fn summary_chart(o: &mut String, columns: &[Column]) {
    const BAR: f64 = 520.0;
    const ROW: usize = 28;
    const LABEL: usize = 190;
    o.push_str("<h2>Summary</h2><p class=\"legend\">");
    for (name, class, _) in SEGMENTS {
        let _ = write!(o, "<span class=\"{class}\">{name}</span>");
    }
    o.push_str("</p>");
    let height = ROW * columns.len() + 4;
    let _ = write!(
        o,
        "<svg class=\"chart\" role=\"img\" aria-label=\"outcomes per registry\" width=\"{}\" \
         height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        LABEL + BAR as usize + 440,
        LABEL + BAR as usize + 440
    );
    for (i, col) in columns.iter().enumerate() {
        let y = i * ROW + 2;
        let counts: Vec<usize> = SEGMENTS
            .iter()
            .map(|(_, class, _)| {
                col.results
                    .cases
                    .iter()
                    .filter(|c| cell_class(Some(c.outcome)) == *class)
                    .count()
            })
            .collect();
        let total = counts.iter().sum::<usize>().max(1);
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL - 8,
            y + 17,
            esc(&col.label)
        );
        let mut x = LABEL as f64;
        for ((name, _, colour), n) in SEGMENTS.iter().zip(&counts) {
            if *n == 0 {
                continue;
            }
            let w = BAR * *n as f64 / total as f64;
            let _ = write!(
                o,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{colour}\">\
                 <title>{}: {n} {name}</title></rect>",
                ROW - 6,
                esc(&col.label)
            );
            x += w;
        }
        let must: Vec<&CaseRecord> = col
            .results
            .cases
            .iter()
            .filter(|c| c.level == crate::spec::Level::Must)
            .collect();
        let must_failed = must
            .iter()
            .filter(|c| {
                matches!(
                    c.outcome,
                    Outcome::Fail | Outcome::Error | Outcome::ExpectedFailure
                )
            })
            .count();
        let _ = write!(
            o,
            "<text x=\"{}\" y=\"{}\">{} pass · {} fail · {} unsupported · {} MUST cases \
             failed</text>",
            LABEL + BAR as usize + 8,
            y + 17,
            counts[0],
            counts[1] + counts[2] + counts[3],
            counts[4],
            must_failed
        );
    }
    o.push_str("</svg>");
}

fn registry_headers(o: &mut String, columns: &[Column]) {
    for c in columns {
        let set = c
            .results
            .run
            .case_set
            .as_ref()
            .map(|s| format!("case set {} {}", s.source, s.digest))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<th class=\"reg\" title=\"{}\">{}<br><small>{}</small></th>",
            esc(&format!(
                "{} · oci-conformance {} · spec {} · {set}",
                c.results.run.target, c.results.tool.version, c.results.run.spec_version
            )),
            esc(&c.label),
            esc(&c.results.run.target)
        );
    }
}

fn feature_table(o: &mut String, columns: &[Column], features: &HashMap<String, Vec<Feature>>) {
    let mut by_feature: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, fs) in features {
        for f in fs {
            if *f != Feature::Auth {
                by_feature.entry(f.as_str()).or_default().push(id);
            }
        }
    }
    if by_feature.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Optional features</h2><table id=\"features\"><thead><tr><th>feature</th><th>cases</th>",
    );
    registry_headers(o, columns);
    o.push_str("</tr></thead><tbody>");
    for (f, ids) in &by_feature {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"c\">{}</td>",
            esc(f),
            ids.len()
        );
        for c in columns {
            let outcomes: Vec<Outcome> = ids
                .iter()
                .filter_map(|id| c.case(id).map(|r| r.outcome))
                .collect();
            let (class, text) = feature_cell(&outcomes);
            let _ = write!(o, "<td class=\"c {class}\">{}</td>", esc(&text));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
}

fn filters(o: &mut String) {
    o.push_str(
        "<h2>Requirements and cases</h2><div id=\"filters\"><label>Level \
         <select id=\"f-level\"><option value=\"\">all</option><option>MUST</option>\
         <option>SHOULD</option><option>MAY</option></select></label><label>Workflow \
         <select id=\"f-workflow\"><option value=\"\">all</option>",
    );
    for w in Workflow::ALL {
        let _ = write!(o, "<option>{}</option>", w.as_str());
    }
    o.push_str(
        "</select></label><label><input type=\"checkbox\" id=\"f-differ\"> only rows where \
         registries differ</label><span id=\"shown\"></span></div>",
    );
}

/// One requirement in a workflow: (level, statement, every case naming it, the cases listed
/// under it).
type RequirementRows<'a> = (String, String, Vec<&'a str>, Vec<&'a CaseRecord>);

fn case_table(o: &mut String, columns: &[Column]) {
    // Every case id any report has, with the record that describes it (the first report's).
    let mut cases: BTreeMap<&str, &CaseRecord> = BTreeMap::new();
    for c in columns {
        for r in &c.results.cases {
            cases.entry(&r.id).or_insert(r);
        }
    }
    let width = columns.len() + 2;
    o.push_str("<table id=\"matrix\"><thead><tr><th>requirement / case</th><th>level</th>");
    registry_headers(o, columns);
    o.push_str("</tr></thead>");
    for w in Workflow::ALL {
        let in_wf: Vec<&CaseRecord> = cases
            .values()
            .copied()
            .filter(|c| c.workflow == w)
            .collect();
        if in_wf.is_empty() {
            continue;
        }
        let mut reqs: BTreeMap<(String, u64, String), RequirementRows> = BTreeMap::new();
        for c in &in_wf {
            for (i, r) in c.requirements.iter().enumerate() {
                let e = reqs
                    .entry(requirement_key(&r.id))
                    .or_insert_with(|| (r.level.clone(), r.statement.clone(), vec![], vec![]));
                e.2.push(&c.id);
                // A case sits under the first requirement it names; the others count it.
                if i == 0 {
                    e.3.push(c);
                }
            }
        }
        let _ = write!(
            o,
            "<tbody data-workflow=\"{0}\"><tr class=\"wf\"><th colspan=\"{width}\">{0} \
             ({1} cases)</th></tr>",
            w.as_str(),
            in_wf.len()
        );
        for ((_, _, id), (level, statement, all, under)) in &reqs {
            let cells: Vec<(&str, String)> = columns
                .iter()
                .map(|col| {
                    let outcomes: Vec<Outcome> = all
                        .iter()
                        .filter_map(|cid| col.case(cid).map(|r| r.outcome))
                        .collect();
                    requirement_cell(&outcomes)
                })
                .collect();
            let differs = cells.iter().any(|c| c.0 != cells[0].0);
            // The catalog's level can be several keywords ("MAY / MUST") or prose ("(will)");
            // the filter uses the strongest keyword, else the strongest level of its cases.
            let filter_level = [
                ("MUST", &["MUST", "REQUIRED", "SHALL"][..]),
                ("SHOULD", &["SHOULD", "RECOMMENDED"][..]),
                ("MAY", &["MAY", "OPTIONAL"][..]),
            ]
            .into_iter()
            .find(|(_, words)| words.iter().any(|w| level.contains(w)))
            .map(|(k, _)| k)
            .or_else(|| {
                under
                    .iter()
                    .map(|c| c.level)
                    .min_by_key(|l| match l {
                        crate::spec::Level::Must => 0,
                        crate::spec::Level::Should => 1,
                        crate::spec::Level::May => 2,
                    })
                    .map(|l| l.as_str())
            })
            .unwrap_or("MAY");
            let _ = write!(
                o,
                "<tr class=\"req\" data-level=\"{}\" data-workflow=\"{}\" data-differs=\"{}\">\
                 <td>{} <span title=\"{}\">{}</span></td><td class=\"lvl\">{}</td>",
                filter_level,
                w.as_str(),
                u8::from(differs),
                esc(id),
                esc(statement),
                esc(&shorten(statement, 110)),
                esc(level)
            );
            for (class, text) in &cells {
                let _ = write!(o, "<td class=\"c {class}\">{}</td>", esc(text));
            }
            o.push_str("</tr>");
            for c in under {
                let outcomes: Vec<Option<&CaseRecord>> =
                    columns.iter().map(|col| col.case(&c.id)).collect();
                let classes: BTreeSet<&str> = outcomes
                    .iter()
                    .map(|r| cell_class(r.map(|r| r.outcome)))
                    .collect();
                let _ = write!(
                    o,
                    "<tr class=\"case\" data-level=\"{}\" data-workflow=\"{}\" data-differs=\"{}\">\
                     <td title=\"{}\">{}</td><td class=\"lvl\">{}</td>",
                    c.level.as_str(),
                    w.as_str(),
                    u8::from(classes.len() > 1),
                    esc(&c.title),
                    esc(&c.id),
                    c.level.as_str()
                );
                for r in outcomes {
                    let class = cell_class(r.map(|r| r.outcome));
                    let text = r.map(|r| r.outcome.as_str()).unwrap_or("—");
                    let title = r.and_then(|r| r.message.as_deref()).unwrap_or("");
                    let _ = write!(
                        o,
                        "<td class=\"c {class}\" title=\"{}\">{}</td>",
                        esc(&shorten(title, 400)),
                        esc(text)
                    );
                }
                o.push_str("</tr>");
            }
        }
        o.push_str("</tbody>");
    }
    o.push_str("</table>");
}

/// The default column name: the report's directory (`reports/distribution-2.8/results.json` →
/// `distribution-2.8`), else the file name.
fn default_label(path: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    path.parent()
        .and_then(name)
        .filter(|n| !n.is_empty() && path.file_name().is_some_and(|f| f == "results.json"))
        .or_else(|| path.file_stem().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| path.display().to_string())
}

/// Case id → features, from the case set built into the binary.
pub fn embedded_features() -> HashMap<String, Vec<Feature>> {
    Suite::embedded()
        .map(|s| {
            s.cases
                .into_iter()
                .map(|(_, c)| (c.id, c.features))
                .collect()
        })
        .unwrap_or_default()
}

pub fn matrix_command(args: &MatrixArgs) -> i32 {
    if !args.label.is_empty() && args.label.len() != args.reports.len() {
        eprintln!(
            "oci-conformance: {} labels for {} reports: give one per report or none",
            args.label.len(),
            args.reports.len()
        );
        return exit::SETUP;
    }
    let mut columns = Vec::new();
    for (i, p) in args.reports.iter().enumerate() {
        match Results::load(p) {
            Ok(r) => {
                let label = args
                    .label
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| default_label(p));
                columns.push(Column::new(label, r));
            }
            Err(e) => {
                eprintln!("oci-conformance: {e}");
                return exit::SETUP;
            }
        }
    }
    let page = render(&columns, &embedded_features());
    match crate::report::write_file(&args.output, page.as_bytes()) {
        Ok(()) => {
            eprintln!(
                "oci-conformance: matrix of {} registries written to {}",
                columns.len(),
                args.output.display()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!(
                "oci-conformance: cannot write {}: {e}",
                args.output.display()
            );
            exit::SETUP
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_sort_by_number_within_a_prefix() {
        let mut ids = vec!["R-010", "AUTH-10", "R-007", "AUTH-2"];
        ids.sort_by_key(|i| requirement_key(i));
        assert_eq!(ids, ["AUTH-2", "AUTH-10", "R-007", "R-010"]);
    }

    #[test]
    fn a_requirement_is_as_bad_as_its_worst_case() {
        use Outcome::*;
        assert_eq!(
            requirement_cell(&[Pass, Pass]),
            ("o-pass", "2/2 pass".into())
        );
        assert_eq!(
            requirement_cell(&[Pass, Fail]),
            ("o-fail", "1/2 pass".into())
        );
        assert_eq!(
            requirement_cell(&[Pass, Unsupported]),
            ("o-pass", "1/1 pass".into())
        );
        assert_eq!(
            requirement_cell(&[Unsupported]),
            ("o-unsupported", "unsupported".into())
        );
        assert_eq!(requirement_cell(&[]), ("o-absent", "—".into()));
        assert_eq!(feature_cell(&[Pass, Unsupported]).1, "unsupported");
        assert_eq!(
            feature_cell(&[Pass, Fail]).1,
            "supported, 1 of 2 cases fail"
        );
        assert_eq!(feature_cell(&[Skip]).1, "not tested");
    }

    #[test]
    fn labels_default_to_the_report_directory() {
        assert_eq!(
            default_label(Path::new("reports/distribution-2.8/results.json")),
            "distribution-2.8"
        );
        assert_eq!(default_label(Path::new("zot.json")), "zot");
    }
}
