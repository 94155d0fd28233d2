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

    /// The records read back, newest first, until one satisfies `enough` (or all were read).
    pub(crate) async fn read_until(
        &mut self,
        enough: impl Fn(&ReleaseRecord) -> bool,
    ) -> Result<&[ReleaseRecord], ReleaseError> {
        let mut i = 0;
        loop {
            self.read_to(i + 1).await?;
            match self.read.get(i) {
                Some(r) if !enough(r) => i += 1,
                _ => return Ok(&self.read),
            }
        }
    }

    pub(crate) fn latest(&self) -> Option<&ReleaseRecord> {
        self.read.first()
    }

    /// The records of `ids`, in that order, at most `concurrency` GETs in flight (not cached:
    /// for the reads a plan makes past the newest records, e.g. the kept site versions).
    pub(crate) async fn records(
        &self,
        ids: &[String],
        concurrency: usize,
    ) -> Result<Vec<ReleaseRecord>, ReleaseError> {
        self.store.read_many(ids, concurrency).await
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
}
