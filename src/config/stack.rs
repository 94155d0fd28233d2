//! `stack: NAME` — names read from the outputs of the `infra/` CloudFormation stack (the model;
//! the DescribeStacks call is the `stack` step).

use std::collections::BTreeMap;

pub(crate) const CLUSTER: &str = "ClusterName";
pub(crate) const SERVICE: &str = "ServiceName";
pub(crate) const REPOSITORY: &str = "RepositoryName";
pub(crate) const BUCKET: &str = "BucketName";
pub(crate) const DISTRIBUTION: &str = "DistributionId";
/// The site's public URL (infra/: `https://<distribution domain>`): the `url` output and the
/// GitHub deployment's `environment_url`.
pub(crate) const SITE_URL: &str = "SiteUrl";

/// Output key -> value of one stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StackOutputs(pub(crate) BTreeMap<String, String>);

impl StackOutputs {
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
    pub(crate) fn has_backend(&self) -> bool {
        [CLUSTER, SERVICE, REPOSITORY]
            .iter()
            .all(|k| self.0.contains_key(*k))
    }
    pub(crate) fn has_frontend(&self) -> bool {
        self.0.contains_key(BUCKET)
    }
}
