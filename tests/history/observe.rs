//! What is live, read from the local stack the way a person with the AWS console would: the
//! service and its task definition, every object in the bucket, every release record.

use std::collections::{BTreeMap, HashMap};

use super::site::sha256_hex;
use super::world::{World, block_on};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Container {
    pub image: String,
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Obj {
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub service_td: String,
    /// (status, task definition, rollout state) of each deployment.
    pub deployments: Vec<(String, String, String)>,
    pub containers: BTreeMap<String, Container>,
    pub objects: BTreeMap<String, Obj>,
    /// id -> record, every record in `_deckhand/releases/`.
    pub records: BTreeMap<String, serde_json::Value>,
}

impl Snapshot {
    pub fn newest(&self) -> Option<(&String, &serde_json::Value)> {
        self.records.last_key_value()
    }
}

/// Object bytes and headers by ETag (same ETag, same bytes: the objects here are single-part).
#[derive(Default)]
pub struct Cache {
    bytes: HashMap<(String, String), Vec<u8>>,
    heads: HashMap<(String, String), (String, String)>,
}

impl Cache {
    /// The object's bytes (None: no such key).
    pub fn get(&mut self, world: &World, snap: &Snapshot, key: &str) -> Option<Vec<u8>> {
        let etag = snap.objects.get(key)?.etag.clone();
        let id = (key.to_string(), etag);
        if let Some(b) = self.bytes.get(&id) {
            return Some(b.clone());
        }
        let out = block_on(async {
            let o = world
                .clients
                .s3
                .get_object()
                .bucket(&world.bucket)
                .key(key)
                .send()
                .await
                .ok()?;
            o.body.collect().await.ok().map(|b| b.into_bytes().to_vec())
        })?;
        self.bytes.insert(id, out.clone());
        Some(out)
    }

    pub fn sha256(&mut self, world: &World, snap: &Snapshot, key: &str) -> Option<String> {
        self.get(world, snap, key).map(|b| sha256_hex(&b))
    }

    /// (Content-Type, Cache-Control) of the object.
    pub fn headers(
        &mut self,
        world: &World,
        snap: &Snapshot,
        key: &str,
    ) -> Option<(String, String)> {
        let etag = snap.objects.get(key)?.etag.clone();
        let id = (key.to_string(), etag);
        if let Some(h) = self.heads.get(&id) {
            return Some(h.clone());
        }
        let h = block_on(
            world
                .clients
                .s3
                .head_object()
                .bucket(&world.bucket)
                .key(key)
                .send(),
        )
        .ok()?;
        let out = (
            h.content_type().unwrap_or_default().to_string(),
            h.cache_control().unwrap_or_default().to_string(),
        );
        self.heads.insert(id, out.clone());
        Some(out)
    }
}

pub fn task_definition(world: &World, arn: &str) -> BTreeMap<String, Container> {
    let out = block_on(
        world
            .clients
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send(),
    )
    .unwrap_or_else(|e| panic!("DescribeTaskDefinition {arn}: {e:?}"));
    let td = out.task_definition().expect("task definition");
    td.container_definitions()
        .iter()
        .map(|c| {
            (
                c.name().unwrap_or_default().to_string(),
                Container {
                    image: c.image().unwrap_or_default().to_string(),
                    env: c
                        .environment()
                        .iter()
                        .map(|kv| {
                            (
                                kv.name().unwrap_or_default().to_string(),
                                kv.value().unwrap_or_default().to_string(),
                            )
                        })
                        .collect(),
                    secrets: c
                        .secrets()
                        .iter()
                        .map(|s| (s.name().to_string(), s.value_from().to_string()))
                        .collect(),
                },
            )
        })
        .collect()
}

/// Every revision of the world's family (ACTIVE and INACTIVE).
pub fn revisions(world: &World) -> Vec<String> {
    let mut out = Vec::new();
    for status in [
        aws_sdk_ecs::types::TaskDefinitionStatus::Active,
        aws_sdk_ecs::types::TaskDefinitionStatus::Inactive,
    ] {
        let list = block_on(
            world
                .clients
                .ecs
                .list_task_definitions()
                .family_prefix(&world.family)
                .status(status)
                .send(),
        )
        .expect("ListTaskDefinitions");
        out.extend(list.task_definition_arns().iter().cloned());
    }
    out
}

pub fn snapshot(
    world: &World,
    records_cache: &mut BTreeMap<(String, String), serde_json::Value>,
) -> Snapshot {
    let svc = block_on(
        world
            .clients
            .ecs
            .describe_services()
            .cluster(&world.cluster)
            .services(&world.service)
            .send(),
    )
    .expect("DescribeServices");
    let svc = &svc.services()[0];
    let service_td = svc.task_definition().unwrap_or_default().to_string();
    let deployments = svc
        .deployments()
        .iter()
        .map(|d| {
            (
                d.status().unwrap_or_default().to_string(),
                d.task_definition().unwrap_or_default().to_string(),
                d.rollout_state()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let containers = task_definition(world, &service_td);
    let mut objects = BTreeMap::new();
    block_on(async {
        let mut pages = world
            .clients
            .s3
            .list_objects_v2()
            .bucket(&world.bucket)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.expect("ListObjectsV2").contents() {
                objects.insert(
                    o.key().unwrap_or_default().to_string(),
                    Obj {
                        etag: o.e_tag().unwrap_or_default().to_string(),
                    },
                );
            }
        }
    });
    let mut records = BTreeMap::new();
    for (key, o) in &objects {
        let Some(id) = key
            .strip_prefix("_deckhand/releases/")
            .and_then(|k| k.strip_suffix(".json"))
        else {
            continue;
        };
        let cache_key = (key.clone(), o.etag.clone());
        let value = match records_cache.get(&cache_key) {
            Some(v) => v.clone(),
            None => {
                let body = block_on(async {
                    let o = world
                        .clients
                        .s3
                        .get_object()
                        .bucket(&world.bucket)
                        .key(key)
                        .send()
                        .await
                        .ok()?;
                    o.body.collect().await.ok().map(|b| b.into_bytes().to_vec())
                });
                let v = body
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or(serde_json::Value::Null);
                records_cache.insert(cache_key, v.clone());
                v
            }
        };
        records.insert(id.to_string(), value);
    }
    Snapshot {
        service_td,
        deployments,
        containers,
        objects,
        records,
    }
}
