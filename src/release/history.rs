//! The release history a deploy plans against: the ids from one listing, and the records read
//! newest first, each at most once, only as far back as the plan needs.

use super::error::ReleaseError;
use super::store::ReleaseStore;
use super::{ReleaseRecord, ReleaseStatus};

pub(crate) struct History<'s, 'a> {
    store: &'s ReleaseStore<'a>,
    /// Every release id, oldest first.
    pub(crate) ids: Vec<String>,
    /// Records read so far, newest first (`read[i]` is `ids[len - 1 - i]`).
    read: Vec<ReleaseRecord>,
}

impl<'s, 'a> History<'s, 'a> {
    /// Lists the ids (one ListObjectsV2 per 1,000) and reads the newest record.
    pub(crate) async fn open(store: &'s ReleaseStore<'a>) -> Result<Self, ReleaseError> {
        let ids = store.list_ids().await?;
        let mut h = Self {
            store,
            ids,
            read: Vec::new(),
        };
        h.read_to(1).await?;
        Ok(h)
    }

    async fn read_to(&mut self, n: usize) -> Result<(), ReleaseError> {
        while self.read.len() < n.min(self.ids.len()) {
            let id = &self.ids[self.ids.len() - 1 - self.read.len()];
            let record = self.store.read(id).await?;
            self.read.push(record);
        }
        Ok(())
    }

    pub(crate) fn latest(&self) -> Option<&ReleaseRecord> {
        self.read.first()
    }

    /// The newest record whose site part was published (the live site), reading back as far as
    /// needed.
    pub(crate) async fn latest_site(&mut self) -> Result<Option<ReleaseRecord>, ReleaseError> {
        let mut i = 0;
        loop {
            self.read_to(i + 1).await?;
            let Some(r) = self.read.get(i) else {
                return Ok(None);
            };
            if r.site
                .as_ref()
                .is_some_and(|s| s.status == ReleaseStatus::Succeeded)
            {
                return Ok(Some(r.clone()));
            }
            i += 1;
        }
    }

    /// The newest `n` records with a succeeded site part published to `bucket`, newest first,
    /// with every id read on the way there.
    pub(crate) async fn sites(
        &mut self,
        bucket: &str,
        n: usize,
    ) -> Result<(Vec<ReleaseRecord>, Vec<String>), ReleaseError> {
        let mut found = Vec::new();
        let mut seen = Vec::new();
        let mut i = 0;
        while found.len() < n {
            self.read_to(i + 1).await?;
            let Some(r) = self.read.get(i) else { break };
            seen.push(r.id.clone());
            if r.site
                .as_ref()
                .is_some_and(|s| s.status == ReleaseStatus::Succeeded && s.bucket == bucket)
            {
                found.push(r.clone());
            }
            i += 1;
        }
        Ok((found, seen))
    }
}
