//! A strict fast parse of one `v1` Service document straight into its
//! compact record, without the intermediate YAML `Value` tree and the full
//! Kubernetes object.
//!
//! It accepts only a subset of what the full parse accepts, and only where
//! the result is the same: every scalar is read with its YAML type
//! resolved (so an unquoted `80` or `true` is not a string, as in the full
//! parse), every mapping is checked for duplicate keys, and any key it does
//! not know, any null, tag or type it does not expect makes it decline
//! (`None`). The caller then parses the document the full way, which
//! decides whether it is valid and words the error exactly as before. So
//! the fast path can never accept a document the full parse rejects, nor
//! give an error of its own.

use crate::service::{ServiceFields, SpecFields};
use allocator::Labels;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// A Service read by the fast path: identity, labels and the record's
/// fields (projected by [`crate::ServiceRecord::from_fields`]).
#[derive(Debug, PartialEq)]
pub(crate) struct FastService {
    /// `metadata.name` (never empty).
    pub name: String,
    /// `metadata.namespace`; `default` when missing or empty, as in the
    /// full parse.
    pub namespace: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// What the record is built from.
    pub fields: ServiceFields,
}

/// Parses `text` (one YAML document) as a `v1` Service, or None when the
/// fast path cannot decide it (see the module comment).
pub(crate) fn parse(text: &str) -> Option<FastService> {
    // Tags (`!!str 80`) change how a scalar reads: left to the full parse.
    if text.contains('!') {
        return None;
    }
    from_top(serde_yaml_ng::from_str(text).ok()?)
}

/// [`parse`] for a List item's text (`body`, from just after its `- `):
/// a one-line flow mapping is read by [`crate::flow`] (several times
/// faster than the YAML parser), anything else by [`parse`] on the item
/// text `indented` gives.
pub(crate) fn parse_item(
    body: &str,
    indented: impl FnOnce() -> Option<String>,
) -> Option<FastService> {
    if body.trim_start_matches(' ').starts_with('{') {
        if let Some(f) = crate::flow::from_str(body).ok().and_then(from_top) {
            return Some(f);
        }
    }
    parse(&indented()?)
}

fn from_top(top: Top) -> Option<FastService> {
    if top.api_version.as_deref() != Some("v1") || top.kind.as_deref() != Some("Service") {
        return None;
    }
    let meta = top.metadata?;
    let name = meta.name.filter(|n| !n.is_empty() && n != "<unnamed>")?;
    let namespace = match meta.namespace {
        Some(ns) if !ns.is_empty() => ns,
        _ => "default".to_string(),
    };
    Some(FastService {
        name,
        namespace,
        labels: meta.labels.unwrap_or_default(),
        fields: ServiceFields {
            annotations: meta.annotations.unwrap_or_default(),
            status_ips: Vec::new(),
            spec: top.spec,
        },
    })
}

/// The reason the fast path gives up; never shown to a user.
fn decline<E: de::Error>() -> E {
    E::custom("left to the full parse")
}

/// Sets `slot`, declining if the key was seen already (a duplicate key is
/// an error of the full parse).
fn set<T, E: de::Error>(slot: &mut Option<T>, v: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(decline());
    }
    *slot = Some(v);
    Ok(())
}

/// A string scalar: quoted, or plain and not read as null, bool or number.
struct Str(String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str, E> {
                Ok(Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str, E> {
                Ok(Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer scalar that fits an `i32`.
struct Int(i32);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an i32")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                i32::try_from(v).map(Int).map_err(|_| decline())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i32::try_from(v).map(Int).map_err(|_| decline())
            }
        }
        d.deserialize_any(V)
    }
}

/// An `IntOrString` (`targetPort`): an i32 or a string.
struct IntOrStr;

impl<'de> Deserialize<'de> for IntOrStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrStr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an i32 or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrStr, E> {
                i32::try_from(v).map(|_| IntOrStr).map_err(|_| decline())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrStr, E> {
                i32::try_from(v).map(|_| IntOrStr).map_err(|_| decline())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IntOrStr, E> {
                Ok(IntOrStr)
            }
        }
        d.deserialize_any(V)
    }
}

/// A mapping of strings to strings, without duplicate keys.
struct StrMap(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for StrMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<StrMap, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((Str(k), Str(v))) = m.next_entry()? {
                    if out.insert(k, v).is_some() {
                        return Err(decline());
                    }
                }
                Ok(StrMap(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A sequence of strings.
struct StrSeq(Vec<String>);

impl<'de> Deserialize<'de> for StrSeq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrSeq;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<StrSeq, A::Error> {
                let mut out = Vec::new();
                while let Some(Str(v)) = s.next_element()? {
                    out.push(v);
                }
                Ok(StrSeq(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Defines a field-name type: a string key that is one of `$name`s (any
/// other key, or a key that is not a string, declines).
macro_rules! keys {
    ($ty:ident { $($var:ident = $name:literal),* $(,)? }) => {
        #[allow(non_camel_case_types)]
        enum $ty { $($var),* }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a known field name")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$ty, E> {
                        match v {
                            $($name => Ok($ty::$var),)*
                            _ => Err(decline()),
                        }
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// Defines a mapping type whose fields are all optional, read by a
/// [`keys!`] type, each at most once.
macro_rules! object {
    ($ty:ident / $keys:ident { $($field:ident : $fty:ty => $map:expr),* $(,)? }) => {
        #[derive(Default)]
        struct $ty { $($field: Option<$fty>),* }
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a mapping")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<$ty, A::Error> {
                        let mut out = $ty::default();
                        while let Some(k) = m.next_key::<$keys>()? {
                            match k {
                                $($keys::$field => {
                                    let f: fn(_) -> $fty = $map;
                                    set(&mut out.$field, f(m.next_value()?))?
                                })*
                            }
                        }
                        Ok(out)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

keys!(TopKey {
    api_version = "apiVersion",
    kind = "kind",
    metadata = "metadata",
    spec = "spec",
});
object!(Top / TopKey {
    api_version: String => |Str(s)| s,
    kind: String => |Str(s)| s,
    metadata: Meta => |m: Meta| m,
    spec: SpecFields => |s: Spec| s.into_fields(),
});

keys!(MetaKey {
    name = "name",
    namespace = "namespace",
    labels = "labels",
    annotations = "annotations",
});
object!(Meta / MetaKey {
    name: String => |Str(s)| s,
    namespace: String => |Str(s)| s,
    labels: Labels => |StrMap(m)| m,
    annotations: BTreeMap<String, String> => |StrMap(m)| m,
});

keys!(SpecKey {
    type_ = "type",
    ports = "ports",
    load_balancer_ip = "loadBalancerIP",
    load_balancer_class = "loadBalancerClass",
    external_traffic_policy = "externalTrafficPolicy",
    selector = "selector",
    ip_families = "ipFamilies",
    ip_family_policy = "ipFamilyPolicy",
    cluster_ip = "clusterIP",
    cluster_ips = "clusterIPs",
});
object!(Spec / SpecKey {
    type_: String => |Str(s)| s,
    ports: Vec<(Option<String>, i32)> => |Ports(p)| p,
    load_balancer_ip: String => |Str(s)| s,
    load_balancer_class: String => |Str(s)| s,
    external_traffic_policy: String => |Str(s)| s,
    selector: BTreeMap<String, String> => |StrMap(m)| m,
    ip_families: Vec<String> => |StrSeq(v)| v,
    ip_family_policy: String => |Str(s)| s,
    cluster_ip: String => |Str(s)| s,
    cluster_ips: Vec<String> => |StrSeq(v)| v,
});

impl Spec {
    fn into_fields(self) -> SpecFields {
        SpecFields {
            type_: self.type_,
            ports: self.ports.unwrap_or_default(),
            load_balancer_ip: self.load_balancer_ip,
            load_balancer_class: self.load_balancer_class,
            external_traffic_policy: self.external_traffic_policy,
            selector: self.selector,
            ip_families: self.ip_families,
            ip_family_policy: self.ip_family_policy,
            cluster_ip: self.cluster_ip,
            cluster_ips: self.cluster_ips,
        }
    }
}

keys!(PortKey {
    port = "port",
    protocol = "protocol",
    name = "name",
    target_port = "targetPort",
    node_port = "nodePort",
    app_protocol = "appProtocol",
});
object!(Port / PortKey {
    port: i32 => |Int(p)| p,
    protocol: String => |Str(s)| s,
    name: () => |Str(_)| (),
    target_port: () => |IntOrStr| (),
    node_port: () => |Int(_)| (),
    app_protocol: () => |Str(_)| (),
});

/// `spec.ports`: each entry must have its required `port`.
struct Ports(Vec<(Option<String>, i32)>);

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ports;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of ports")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Ports, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(1));
                while let Some(p) = s.next_element::<Port>()? {
                    out.push((p.protocol, p.port.ok_or_else(decline)?));
                }
                Ok(Ports(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
#[path = "fast_service_tests.rs"]
mod tests;
