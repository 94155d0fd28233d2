//! The release history a deploy plans against: the newest ids (from the index, without listing
//! every record), and the records read newest first, each at most once, only as far back as the
//! plan needs. Reading past what the index keeps (or a record the index names that is gone) falls
//! back to listing every id once.

use super::ReleaseRecord;
use super::error::ReleaseError;
use super::store::ReleaseStore;

pub(crate) struct History<'s, 'a> {
    store: &'s ReleaseStore<'a>,
    /// Release ids known, oldest first: every id when `all`, else the newest ones.
    pub(crate) ids: Vec<String>,
    all: bool,
    /// Records read so far, newest first (`read[i]` is `ids[len - 1 - i]`).
    read: Vec<ReleaseRecord>,
}

impl<'s, 'a> History<'s, 'a> {
    /// Reads the newest ids (the index and one ListObjectsV2 after it) and the newest record.
    pub(crate) async fn open(store: &'s ReleaseStore<'a>) -> Result<Self, ReleaseError> {
        let recent = store.recent().await?;
        let mut ids = recent.ids;
        ids.reverse();
        let mut h = Self {
            store,
            ids,
            all: recent.all,
            read: Vec::new(),
        };
        h.read_to(1).await?;
        Ok(h)
    }

    /// Every id, listed (once): `ids` then holds them all, not only the newest the index keeps.
    pub(crate) async fn list_all(&mut self) -> Result<(), ReleaseError> {
        if self.all {
            return Ok(());
        }
        let mut ids = self.store.everything().await?.ids;
        ids.reverse();
        self.ids = ids;
        self.all = true;
        // Keep what was read only while it still lines up with the newest ids.
        let n = self.ids.len();
        let aligned = self
            .read
            .iter()
            .enumerate()
            .all(|(i, r)| i < n && self.ids[n - 1 - i] == r.id);
        if !aligned {
            self.read.clear();
        }
        Ok(())
    }

    async fn read_to(&mut self, n: usize) -> Result<(), ReleaseError> {
        while self.read.len() < n {
            if self.read.len() >= self.ids.len() {
                if self.all {
                    break;
                }
                self.list_all().await?;
                continue;
            }
            let id = &self.ids[self.ids.len() - 1 - self.read.len()];
            match self.store.read(id).await {
                Ok(record) => self.read.push(record),
                Err(e) if e.is_missing() && !self.all => self.list_all().await?,
                Err(e) => return Err(e),
            }
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

    /// The newest record whose site part was published whole (the live site: succeeded, or out
    /// while its API baked, [`super::baking::out_baking`]), reading back as far as needed.
    pub(crate) async fn latest_site(&mut self) -> Result<Option<ReleaseRecord>, ReleaseError> {
        let mut i = 0;
        loop {
            self.read_to(i + 1).await?;
            let Some(r) = self.read.get(i) else {
                return Ok(None);
            };
            if super::baking::site_out(r) {
                return Ok(Some(r.clone()));
            }
            i += 1;
        }
    }
}
