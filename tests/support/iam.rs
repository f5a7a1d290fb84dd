//! Each function's IAM grants in `infra/template.yaml`, evaluated as CloudFormation would for
//! one deployment ([`Deployment`]): every statement's actions × resources, the resources as the
//! ARNs (or ARN patterns) they become once `!Sub`, `!Ref`, `!GetAtt`, `!Select` and `!Split`
//! are resolved. The emulator test holds them to what each function's binary sends
//! (`seatkeeper::app::trace`); conditions (`dynamodb:LeadingKeys`) are
//! `tests/integration/leading_keys.rs`'s.

use std::collections::BTreeMap;

use serde_yaml::Value as Yaml;

/// The values a deployment gives the template: its pseudo parameters and parameters.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub stack: String,
    pub parameters: BTreeMap<String, String>,
}

impl Deployment {
    /// A stack `seatkeeper` in `eu-west-1` of account `123456789012`, sending mail from `from`.
    pub fn example(from: &str) -> Self {
        Deployment {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            stack: "seatkeeper".into(),
            parameters: BTreeMap::from([("MailFrom".to_string(), from.to_string())]),
        }
    }

    /// The head of a regional ARN of `service` in this deployment: `arn:aws:dynamodb:eu-west-1:123456789012:`.
    pub fn arn(&self, service: &str) -> String {
        match service {
            "s3" => format!("arn:{}:s3:::", self.partition),
            _ => format!("arn:{}:{service}:{}:{}:", self.partition, self.region, self.account),
        }
    }
}

/// One action allowed on one resource (both may hold `*` and `?`, as IAM's `StringLike`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub action: String,
    pub resource: String,
}

/// `StringLike`: `*` matches any run of characters, `?` any one.
pub fn like(pattern: &str, value: &str) -> bool {
    match pattern.chars().next() {
        None => value.is_empty(),
        Some('*') => (0..=value.len()).filter(|i| value.is_char_boundary(*i)).any(|i| like(&pattern[1..], &value[i..])),
        Some(c) => {
            let mut rest = value.chars();
            match rest.next() {
                Some(v) if v == c || c == '?' => like(&pattern[c.len_utf8()..], rest.as_str()),
                _ => false,
            }
        }
    }
}

/// What an intrinsic function gives: a string or a list of them.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    S(String),
    L(Vec<String>),
}

impl Val {
    fn s(self) -> Result<String, String> {
        match self {
            Val::S(s) => Ok(s),
            Val::L(l) => Err(format!("a string was expected, not the list {l:?}")),
        }
    }

    fn list(self) -> Vec<String> {
        match self {
            Val::S(s) => vec![s],
            Val::L(l) => l,
        }
    }
}

/// The template, evaluated for a deployment.
pub struct Template<'a> {
    doc: Yaml,
    deployment: &'a Deployment,
}

impl<'a> Template<'a> {
    pub fn new(text: &str, deployment: &'a Deployment) -> Self {
        Template { doc: serde_yaml::from_str(text).expect("the template is YAML"), deployment }
    }

    /// Each function's grants, by the binary it runs.
    pub fn grants(&self) -> Result<BTreeMap<String, Vec<Grant>>, String> {
        let mut out = BTreeMap::new();
        for (name, resource) in self.doc["Resources"].as_mapping().into_iter().flatten() {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let name = name.as_str().unwrap_or_default();
            let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or(name).to_string();
            let mut grants = Vec::new();
            for policy in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
                let statements = policy["Statement"]
                    .as_sequence()
                    .ok_or_else(|| format!("{name}: a policy that is not a list of statements: {policy:?}"))?;
                for statement in statements {
                    if statement["Effect"].as_str() != Some("Allow") {
                        return Err(format!("{name}: only Allow statements are evaluated: {statement:?}"));
                    }
                    let actions = self.eval(&statement["Action"]).map_err(|e| format!("{name}: {e}"))?.list();
                    let resources = self.eval(&statement["Resource"]).map_err(|e| format!("{name}: {e}"))?.list();
                    for action in &actions {
                        for resource in &resources {
                            grants.push(Grant { action: action.clone(), resource: resource.clone() });
                        }
                    }
                }
            }
            out.insert(binary, grants);
        }
        Ok(out)
    }

    /// The name a resource of the template gets in this deployment (`Ref`): its own name
    /// property, or the logical id where CloudFormation generates one.
    pub fn physical(&self, logical_id: &str) -> Result<String, String> {
        self.reference(logical_id)
    }

    fn eval(&self, v: &Yaml) -> Result<Val, String> {
        match v {
            Yaml::String(s) => Ok(Val::S(s.clone())),
            Yaml::Sequence(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.eval(item)?.list());
                }
                Ok(Val::L(out))
            }
            Yaml::Tagged(t) => {
                let tag = t.tag.to_string();
                self.function(tag.trim_start_matches('!'), &t.value)
            }
            Yaml::Mapping(m) if m.len() == 1 => {
                let (k, value) = m.iter().next().expect("one entry");
                match k.as_str().and_then(|k| k.strip_prefix("Fn::").or((k == "Ref").then_some("Ref"))) {
                    Some(f) => self.function(f, value),
                    None => Err(format!("not an intrinsic function: {v:?}")),
                }
            }
            other => Err(format!("cannot evaluate {other:?}")),
        }
    }

    fn function(&self, name: &str, arg: &Yaml) -> Result<Val, String> {
        let args = |n: usize| -> Result<Vec<&Yaml>, String> {
            let seq = arg.as_sequence().filter(|s| s.len() == n);
            seq.map(|s| s.iter().collect()).ok_or_else(|| format!("{name} takes {n} arguments: {arg:?}"))
        };
        match name {
            "Ref" => self.reference(arg.as_str().ok_or("Ref takes a name")?).map(Val::S),
            "GetAtt" => {
                let path = match arg {
                    Yaml::String(s) => s.clone(),
                    _ => args(2)?.iter().map(|a| a.as_str().unwrap_or_default()).collect::<Vec<_>>().join("."),
                };
                self.attribute(&path).map(Val::S)
            }
            "Sub" => match arg {
                Yaml::String(s) => self.sub(s, &BTreeMap::new()).map(Val::S),
                _ => {
                    let a = args(2)?;
                    let mut vars = BTreeMap::new();
                    for (k, v) in a[1].as_mapping().ok_or("Sub's variables are a mapping")? {
                        vars.insert(k.as_str().unwrap_or_default().to_string(), self.eval(v)?.s()?);
                    }
                    self.sub(a[0].as_str().ok_or("Sub's first argument is a string")?, &vars).map(Val::S)
                }
            },
            "Select" => {
                let a = args(2)?;
                let index = a[0].as_u64().map(|i| i as usize).or_else(|| a[0].as_str().and_then(|s| s.parse().ok()));
                let list = self.eval(a[1])?.list();
                let index = index.ok_or("Select takes an index")?;
                list.get(index).cloned().map(Val::S).ok_or_else(|| format!("Select {index} of {list:?}"))
            }
            "Split" => {
                let a = args(2)?;
                let on = a[0].as_str().ok_or("Split takes a delimiter")?;
                Ok(Val::L(self.eval(a[1])?.s()?.split(on).map(str::to_string).collect()))
            }
            "Join" => {
                let a = args(2)?;
                let with = a[0].as_str().ok_or("Join takes a delimiter")?;
                Ok(Val::S(self.eval(a[1])?.list().join(with)))
            }
            other => Err(format!("the evaluator does not know Fn::{other}")),
        }
    }

    /// `${Name}`, `${Resource.Attribute}` and `${Var}` replaced; `${!Literal}` kept as `${Literal}`.
    fn sub(&self, text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').ok_or_else(|| format!("an unclosed ${{ in {text}"))? + start;
            let name = &rest[start + 2..end];
            match name.strip_prefix('!') {
                Some(literal) => out.push_str(&format!("${{{literal}}}")),
                None if vars.contains_key(name) => out.push_str(&vars[name]),
                None if name.contains('.') && !name.starts_with("AWS::") => out.push_str(&self.attribute(name)?),
                None => out.push_str(&self.reference(name)?),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, name: &str) -> Result<String, String> {
        let d = self.deployment;
        match name {
            "AWS::Partition" => return Ok(d.partition.clone()),
            "AWS::Region" => return Ok(d.region.clone()),
            "AWS::AccountId" => return Ok(d.account.clone()),
            "AWS::StackName" => return Ok(d.stack.clone()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            _ => {}
        }
        let parameter = &self.doc["Parameters"][name];
        if !parameter.is_null() {
            return match d.parameters.get(name) {
                Some(v) => Ok(v.clone()),
                None => parameter["Default"].as_str().map(str::to_string).ok_or_else(|| format!("no value for {name}")),
            };
        }
        let resource = &self.doc["Resources"][name];
        let named = |property: &str| -> Result<String, String> {
            match &resource["Properties"][property] {
                Yaml::Null => Ok(name.to_string()),
                v => self.eval(v)?.s(),
            }
        };
        match resource["Type"].as_str() {
            // A physical name given in the template, or (generated by CloudFormation) the logical id.
            Some("AWS::S3::Bucket") => named("BucketName"),
            Some("AWS::Events::EventBus") => named("Name"),
            Some("AWS::DynamoDB::Table") => named("TableName"),
            Some("AWS::SES::ConfigurationSet") => named("Name"),
            Some(_) => Ok(name.to_string()),
            None => Err(format!("{name} is neither a parameter nor a resource")),
        }
    }

    fn attribute(&self, path: &str) -> Result<String, String> {
        let (name, attribute) = path.split_once('.').ok_or_else(|| format!("{path} is not Resource.Attribute"))?;
        let d = self.deployment;
        let kind = self.doc["Resources"][name]["Type"].as_str().unwrap_or_default().to_string();
        let physical = self.reference(name)?;
        Ok(match (kind.as_str(), attribute) {
            ("AWS::DynamoDB::Table", "Arn") => format!("{}table/{physical}", d.arn("dynamodb")),
            ("AWS::DynamoDB::Table", "StreamArn") => format!("{}table/{physical}/stream/*", d.arn("dynamodb")),
            ("AWS::S3::Bucket", "Arn") => format!("{}{physical}", d.arn("s3")),
            ("AWS::Events::EventBus", "Arn") => format!("{}event-bus/{physical}", d.arn("events")),
            ("AWS::SQS::Queue", "Arn") => format!("{}{physical}", d.arn("sqs")),
            _ => return Err(format!("the evaluator does not know {kind} {path}")),
        })
    }
}
