//! The keys a config section may have, read from the serde-derived type itself, so that an
//! unknown key can be answered with "did you mean ...?" when one known key is close.
//!
//! serde's derive passes a struct's field names to `Deserializer::deserialize_struct`;
//! [`KeyRecorder`] is a deserializer that notes them and then feeds each field a stand-in
//! value, so that the tables inside (an `Option<Struct>`, a `Vec<Struct>`, a map of
//! structs) are visited and noted too, under their paths (`[]` for any array element,
//! `*` for any map key). A stand-in a field's own parser refuses ends the walk there;
//! what was noted until then stays.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;

/// The known keys of each table of `T`, by path pattern ("" for `T` itself).
pub struct KnownKeys(Vec<(Vec<String>, &'static [&'static str])>);

impl KnownKeys {
    pub fn of<'de, T: de::Deserialize<'de>>() -> KnownKeys {
        let found = RefCell::new(Vec::new());
        let _ = T::deserialize(KeyRecorder {
            path: Vec::new(),
            found: &found,
        });
        KnownKeys(found.into_inner())
    }

    /// The one known key closest to the unknown key at `path` (`a.b[2].c`), when it is
    /// close enough to be a slip of the keyboard.
    pub fn suggestion(&self, path: &str) -> Option<&'static str> {
        let mut segments = split(path);
        let key = segments.pop()?;
        let fields = self
            .0
            .iter()
            .find(|(pattern, _)| matches(pattern, &segments))
            .map(|(_, fields)| *fields)?;
        closest(&key, fields)
    }
}

/// `a.b[2].c` → `["a", "b", "[]", "c"]`; a quoted key keeps its text.
fn split(path: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => segments.push(std::mem::take(&mut current)),
            '[' => {
                if !current.is_empty() {
                    segments.push(std::mem::take(&mut current));
                }
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                current = "[]".to_string();
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => current.extend(chars.next()),
                        '"' => break,
                        c => current.push(c),
                    }
                }
            }
            c => current.push(c),
        }
    }
    segments.push(current);
    segments.retain(|s| !s.is_empty());
    segments
}

fn matches(pattern: &[String], path: &[String]) -> bool {
    pattern.len() == path.len() && pattern.iter().zip(path).all(|(p, s)| p == "*" || p == s)
}

/// The closest of `known` to `key` within a small edit distance, if exactly one is.
fn closest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let limit = (key.chars().count() / 3).clamp(1, 3);
    let mut scored: Vec<(usize, &'static str)> = known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(key, k), *k))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(_, name)] => Some(*name),
        [(best, name), (next, _), ..] if best < next => Some(*name),
        _ => None,
    }
    .filter(|_| !known.contains(&key))
}

/// Notes struct fields under their paths; see the module's comment.
struct KeyRecorder<'a> {
    path: Vec<String>,
    found: &'a RefCell<Vec<(Vec<String>, &'static [&'static str])>>,
}

impl<'a> KeyRecorder<'a> {
    fn at(&self, segment: &str) -> KeyRecorder<'a> {
        let mut path = self.path.clone();
        path.push(segment.to_string());
        KeyRecorder {
            path,
            found: self.found,
        }
    }
}

#[derive(Debug)]
struct Stop(String);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(message: T) -> Stop {
        Stop(message.to_string())
    }
}

impl<'de> de::Deserializer<'de> for KeyRecorder<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_str("")
    }
    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_bool(false)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_u64(0)
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_seq(Elements(Some(self.at("[]"))))
    }
    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        let value = self.at("*");
        visitor.visit_map(Fields {
            keys: &["*"],
            value: Some(value),
            parent: self,
        })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.found.borrow_mut().push((self.path.clone(), fields));
        visitor.visit_map(Fields {
            keys: fields,
            value: None,
            parent: self,
        })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let first = variants.first().copied().unwrap_or("");
        visitor.visit_enum(first.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// One stand-in element of an array.
struct Elements<'a>(Option<KeyRecorder<'a>>);

impl<'de> SeqAccess<'de> for Elements<'_> {
    type Error = Stop;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Stop> {
        self.0.take().map(|element| seed.deserialize(element)).transpose()
    }
}

/// A struct's fields, or one stand-in map entry (`value` set), each with a stand-in value.
struct Fields<'a> {
    keys: &'static [&'static str],
    value: Option<KeyRecorder<'a>>,
    parent: KeyRecorder<'a>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Stop;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        let Some((key, rest)) = self.keys.split_first() else {
            return Ok(None);
        };
        if self.value.is_none() {
            self.value = Some(self.parent.at(key));
        }
        self.keys = rest;
        seed.deserialize(key.into_deserializer()).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        let value = self.value.take().ok_or_else(|| Stop("a value before its key".into()))?;
        seed.deserialize(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        access_token_ttl: Option<String>,
        enabled: bool,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        issuer: Option<String>,
        listen: Option<String>,
        inner: Option<Inner>,
        many: Vec<Inner>,
        named: BTreeMap<String, Inner>,
    }

    #[test]
    fn a_slip_of_the_keyboard_gets_the_key_meant() {
        let known = KnownKeys::of::<Outer>();
        assert_eq!(known.suggestion("isuer"), Some("issuer"));
        assert_eq!(known.suggestion("inner.acess_token_ttl"), Some("access_token_ttl"));
        assert_eq!(known.suggestion("many[3].enabeld"), Some("enabled"));
        assert_eq!(
            known.suggestion("named.\"a b\".acces_token_ttl"),
            Some("access_token_ttl")
        );
    }

    #[test]
    fn a_key_far_from_every_known_one_gets_none() {
        let known = KnownKeys::of::<Outer>();
        assert_eq!(known.suggestion("colour"), None);
        assert_eq!(known.suggestion("inner.ttl"), None);
        assert_eq!(known.suggestion("elsewhere.issuer_x"), None);
    }
}
