//! [`TemplateSet`]: the built-in templates plus the workspace's own.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use haetae_findings::{CheckId, SourceError};

use super::compile::parse_file;
use super::{RequestKey, Template, builtin};

/// The content-check templates in force. Build it once per scan: loading
/// compiles every regex.
#[derive(Debug, Clone, Default)]
pub struct TemplateSet {
    templates: Vec<Template>,
    overridden: Vec<CheckId>,
}

impl TemplateSet {
    /// The templates compiled into the binary.
    pub fn builtin() -> Result<TemplateSet, Vec<SourceError>> {
        let mut set = TemplateSet::default();
        let mut errors = Vec::new();
        let mut seen = HashMap::new();
        for (name, text) in builtin::FILES {
            let path = Path::new(builtin::DIR).join(name);
            match parse_file(&path, text, builtin::SOURCE) {
                Ok(templates) => {
                    for t in templates {
                        if let Some(e) = duplicate(&mut seen, &t, &path) {
                            errors.push(e);
                        } else {
                            set.templates.push(t);
                        }
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// The built-in templates plus every `*.toml` file of `user_dir` (in file
    /// name order; subdirectories are not read). A directory that does not
    /// exist adds nothing. A user template with the id of a built-in one
    /// replaces it, in place; two user templates with one id are an error.
    /// Every error of every file is returned, with its position.
    pub fn load(user_dir: Option<&Path>) -> Result<TemplateSet, Vec<SourceError>> {
        let (mut set, mut errors) = match TemplateSet::builtin() {
            Ok(set) => (set, Vec::new()),
            Err(errors) => (TemplateSet::default(), errors),
        };
        let files = match user_dir.map(toml_files).transpose() {
            Ok(files) => files.unwrap_or_default(),
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        let mut seen = HashMap::new();
        for path in files {
            let text = match fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) => {
                    errors.push(SourceError::whole_file(&path, format!("cannot read the template file: {e}")));
                    continue;
                }
            };
            match parse_file(&path, &text, &path.display().to_string()) {
                Ok(templates) => {
                    for t in templates {
                        match duplicate(&mut seen, &t, &path) {
                            Some(e) => errors.push(e),
                            None => set.add_user(t),
                        }
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    fn add_user(&mut self, template: Template) {
        match self.templates.iter_mut().find(|t| t.id == template.id) {
            Some(builtin) => {
                self.overridden.push(template.id.clone());
                *builtin = template;
            }
            None => self.templates.push(template),
        }
    }

    /// Every template: built-ins in catalogue file order (replaced ones in
    /// their place), then the team's own in file order.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// The template of a check, if one is in force.
    pub fn get(&self, id: &CheckId) -> Option<&Template> {
        self.templates.iter().find(|t| &t.id == id)
    }

    /// Built-in ids that a user template replaced.
    pub fn overridden(&self) -> &[CheckId] {
        &self.overridden
    }

    /// Every request of every template, deduplicated and sorted: fetch each
    /// once and give the response to every template that asks for it.
    pub fn requests(&self) -> Vec<RequestKey> {
        self.collect_requests(|_| true)
    }

    /// The requests of the templates that apply to an endpoint.
    pub fn requests_for(&self, scheme: &str, port: u16) -> Vec<RequestKey> {
        self.collect_requests(|t| t.applies_to(scheme, port))
    }

    fn collect_requests(&self, keep: impl Fn(&Template) -> bool) -> Vec<RequestKey> {
        let keys: BTreeSet<&RequestKey> =
            self.templates.iter().filter(|t| keep(t)).flat_map(|t| t.requests()).collect();
        keys.into_iter().cloned().collect()
    }
}

/// An error when `template`'s id was already defined (in `seen`), else records it.
fn duplicate(seen: &mut HashMap<CheckId, String>, template: &Template, path: &Path) -> Option<SourceError> {
    let (line, column) = template.position;
    let here = format!("{}:{line}:{column}", path.display());
    match seen.get(&template.id) {
        Some(first) => Some(SourceError {
            path: path.to_owned(),
            line,
            column,
            message: format!("template id `{}` is already defined at {first}", template.id),
        }),
        None => {
            seen.insert(template.id.clone(), here);
            None
        }
    }
}

/// The `*.toml` files directly in `dir`, sorted; none when `dir` does not exist.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, SourceError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SourceError::whole_file(dir, format!("cannot read the templates directory: {e}"))),
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| SourceError::whole_file(dir, format!("cannot read the templates directory: {e}")))?
            .path();
        if path.extension().is_some_and(|ext| ext == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
