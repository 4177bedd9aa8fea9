//! The content a simulated Confluence serves: spaces, pages (with parent,
//! type, labels, version, body) and attachments. Tests build it in code;
//! [`Dataset::random_tree`] generates page trees for enumeration tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::{RngExt, SeedableRng, rngs::StdRng};

use super::content::AttachmentContent;

/// The default page version of the PROTOCOL §12 scenarios.
pub const DEFAULT_VERSION: &str = "2026-05-01T10:00:00.000Z";

/// `space.type` values (PROTOCOL §5.2: personal spaces are never discovered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpaceType {
    Global,
    Collaboration,
    Personal,
}

impl SpaceType {
    pub fn as_str(self) -> &'static str {
        match self {
            SpaceType::Global => "global",
            SpaceType::Collaboration => "collaboration",
            SpaceType::Personal => "personal",
        }
    }
}

/// A space. On Data Center the id should be numeric: it is served as a JSON
/// number whenever it parses as one, as Data Center does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSpace {
    pub id: String,
    pub key: String,
    pub name: String,
    pub space_type: SpaceType,
}

impl SimSpace {
    /// A global space.
    pub fn new(id: impl Into<String>, key: impl Into<String>, name: impl Into<String>) -> Self {
        SimSpace {
            id: id.into(),
            key: key.into(),
            name: name.into(),
            space_type: SpaceType::Global,
        }
    }

    pub fn with_type(mut self, space_type: SpaceType) -> Self {
        self.space_type = space_type;
        self
    }
}

/// An attachment; its bytes are generated from `(id, size, seed)` on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimAttachment {
    pub id: String,
    pub title: String,
    pub media_type: String,
    pub size: u64,
    pub seed: u64,
    /// `version.when`; `None` makes the adapter fall back to the page's.
    pub version_when: Option<String>,
}

impl SimAttachment {
    pub fn new(
        id: impl Into<String>,
        title: impl Into<String>,
        media_type: impl Into<String>,
        size: u64,
    ) -> Self {
        SimAttachment {
            id: id.into(),
            title: title.into(),
            media_type: media_type.into(),
            size,
            seed: 0,
            version_when: Some(DEFAULT_VERSION.to_owned()),
        }
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn without_version(mut self) -> Self {
        self.version_when = None;
        self
    }

    /// The bytes the simulator serves for this attachment.
    pub fn content(&self) -> AttachmentContent {
        AttachmentContent::new(&self.id, self.size, self.seed)
    }
}

/// A page, blog post or other content item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPage {
    pub id: String,
    pub title: String,
    /// `page`, `blogpost`, `folder`, `database`, … (any string is served).
    pub content_type: String,
    pub space_key: String,
    pub parent: Option<String>,
    pub labels: Vec<String>,
    pub version_when: String,
    pub body: String,
    pub attachments: Vec<SimAttachment>,
    /// With [`Quirk::BodyExpansionFailure`](super::Quirk::BodyExpansionFailure)
    /// on, any request expanding this page's body answers 500.
    pub body_expansion_fails: bool,
}

impl SimPage {
    /// A `page` titled after its id, default version, body `<p>{id}</p>`.
    pub fn new(id: impl Into<String>, space_key: impl Into<String>) -> Self {
        let id = id.into();
        SimPage {
            title: format!("Page {id}"),
            body: format!("<p>{id}</p>"),
            id,
            content_type: "page".to_owned(),
            space_key: space_key.into(),
            parent: None,
            labels: Vec::new(),
            version_when: DEFAULT_VERSION.to_owned(),
            attachments: Vec::new(),
            body_expansion_fails: false,
        }
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    pub fn labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels = labels.into_iter().map(Into::into).collect();
        self
    }

    pub fn version(mut self, when: impl Into<String>) -> Self {
        self.version_when = when.into();
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    pub fn attachment(mut self, attachment: SimAttachment) -> Self {
        self.attachments.push(attachment);
        self
    }

    pub fn body_expansion_fails(mut self) -> Self {
        self.body_expansion_fails = true;
        self
    }
}

/// Everything a simulated instance serves. Page order is the order in
/// which searches list results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dataset {
    spaces: Vec<SimSpace>,
    pages: Vec<SimPage>,
    /// Page id → position in `pages`: every search walks each candidate's
    /// ancestors, which must not cost a scan per step on 20,000 pages.
    by_id: HashMap<String, usize>,
}

impl Dataset {
    pub fn new() -> Self {
        Dataset::default()
    }

    /// Adds a space (builder style).
    pub fn space(mut self, space: SimSpace) -> Self {
        self.spaces.push(space);
        self
    }

    /// Adds a page (builder style). Its space must have been added.
    ///
    /// # Panics
    /// When the page's space is unknown or the id is already taken: a
    /// dataset bug in the calling test, better reported at once.
    pub fn page(mut self, page: SimPage) -> Self {
        self.insert_page(page);
        self
    }

    /// Adds a page to an existing dataset; see [`page`](Self::page).
    pub fn insert_page(&mut self, page: SimPage) {
        assert!(
            self.space_by_key(&page.space_key).is_some(),
            "page {} names unknown space {}",
            page.id,
            page.space_key
        );
        assert!(
            self.page_by_id(&page.id).is_none(),
            "duplicate page id {}",
            page.id
        );
        self.by_id.insert(page.id.clone(), self.pages.len());
        self.pages.push(page);
    }

    fn reindex(&mut self) {
        self.by_id = self
            .pages
            .iter()
            .enumerate()
            .map(|(n, page)| (page.id.clone(), n))
            .collect();
    }

    /// Removes a page (content deleted mid-cycle); returns whether it existed.
    pub fn remove_page(&mut self, id: &str) -> bool {
        let before = self.pages.len();
        self.pages.retain(|p| p.id != id);
        self.reindex();
        self.pages.len() != before
    }

    /// The page with this id, to edit between cycles (body, version,
    /// labels, space, parent, attachments; not the id itself).
    pub fn page_mut(&mut self, id: &str) -> Option<&mut SimPage> {
        let n = *self.by_id.get(id)?;
        self.pages.get_mut(n)
    }

    /// Removes a space and every page in it (a space deleted in
    /// Confluence); returns whether the space existed.
    pub fn remove_space(&mut self, key: &str) -> bool {
        let before = self.spaces.len();
        self.spaces.retain(|s| s.key != key);
        self.pages.retain(|p| p.space_key != key);
        self.reindex();
        self.spaces.len() != before
    }

    pub fn spaces(&self) -> &[SimSpace] {
        &self.spaces
    }

    pub fn pages(&self) -> &[SimPage] {
        &self.pages
    }

    pub fn page_by_id(&self, id: &str) -> Option<&SimPage> {
        self.by_id.get(id).and_then(|n| self.pages.get(*n))
    }

    pub fn space_by_key(&self, key: &str) -> Option<&SimSpace> {
        self.spaces.iter().find(|s| s.key == key)
    }

    /// Ids of all ancestors of `page`, nearest first. Stops at a missing
    /// parent and at cycles, which a hand-built dataset could contain.
    pub fn ancestors(&self, page: &SimPage) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([page.id.clone()]);
        let mut next = page.parent.clone();
        while let Some(id) = next {
            if !seen.insert(id.clone()) {
                break;
            }
            next = self.page_by_id(&id).and_then(|p| p.parent.clone());
            out.push(id);
        }
        out
    }

    /// Ids of every page below `root` (children, grandchildren, …).
    pub fn descendants_of(&self, root: &str) -> BTreeSet<String> {
        self.pages
            .iter()
            .filter(|p| self.ancestors(p).iter().any(|a| a == root))
            .map(|p| p.id.clone())
            .collect()
    }

    /// A random forest of `options.pages` pages over `options.spaces`
    /// spaces, reproducible from `seed`. Labels are drawn from
    /// `options.labels`; types are mostly pages, with blog posts, folders,
    /// databases and whiteboards mixed in; some pages have more than 25
    /// attachments. Space ids are numeric so the dataset suits both flavours.
    pub fn random_tree(seed: u64, options: &RandomTreeOptions) -> Dataset {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut dataset = Dataset::new();
        let space_types = [
            SpaceType::Global,
            SpaceType::Global,
            SpaceType::Collaboration,
            SpaceType::Personal,
        ];
        for n in 0..options.spaces.max(1) {
            let space_type = space_types[n % space_types.len()];
            dataset.spaces.push(
                SimSpace::new(
                    format!("{}", 1000 + n),
                    format!("S{n}"),
                    format!("Space {n}"),
                )
                .with_type(space_type),
            );
        }
        let types = [
            "page",
            "page",
            "page",
            "page",
            "blogpost",
            "folder",
            "database",
            "whiteboard",
        ];
        let mut attachment_id = 0u64;
        for n in 0..options.pages {
            let id = format!("{}", 10_000 + n);
            // Children stay in their parent's space, as in Confluence.
            let parent = (n > 0 && rng.random_bool(0.7))
                .then(|| dataset.pages[rng.random_range(0..n)].clone());
            let space_key = match &parent {
                Some(p) => p.space_key.clone(),
                None => dataset.spaces[rng.random_range(0..dataset.spaces.len())]
                    .key
                    .clone(),
            };
            let mut page = SimPage::new(id.clone(), space_key)
                .content_type(types[rng.random_range(0..types.len())])
                .version(format!("2026-05-{:02}T10:00:00.000Z", 1 + n % 28));
            page.parent = parent.map(|p| p.id);
            page.labels = options
                .labels
                .iter()
                .filter(|_| rng.random_bool(options.label_probability))
                .cloned()
                .collect();
            let attachments = match rng.random_range(0..10) {
                0 => rng.random_range(26..60),
                1..=3 => rng.random_range(1..5),
                _ => 0,
            };
            for _ in 0..attachments {
                attachment_id += 1;
                page.attachments.push(
                    SimAttachment::new(
                        format!("att{attachment_id}"),
                        format!("file-{attachment_id}.pdf"),
                        "application/pdf",
                        rng.random_range(1..4096),
                    )
                    .with_seed(attachment_id),
                );
            }
            dataset.insert_page(page);
        }
        dataset
    }

    /// Attachments by page id, for comparing enumerations with the dataset.
    pub fn attachments_by_page(&self) -> BTreeMap<String, Vec<SimAttachment>> {
        self.pages
            .iter()
            .map(|p| (p.id.clone(), p.attachments.clone()))
            .collect()
    }
}

/// Shape of a [`Dataset::random_tree`].
#[derive(Debug, Clone)]
pub struct RandomTreeOptions {
    pub pages: usize,
    pub spaces: usize,
    /// Each label is put on each page with `label_probability`.
    pub labels: Vec<String>,
    pub label_probability: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RandomTreeOptions {
        RandomTreeOptions {
            pages: 200,
            spaces: 4,
            labels: vec!["a".into(), "b".into()],
            label_probability: 0.2,
        }
    }

    #[test]
    fn random_trees_are_reproducible_and_well_formed() {
        let one = Dataset::random_tree(7, &options());
        assert_eq!(one, Dataset::random_tree(7, &options()));
        assert_ne!(one, Dataset::random_tree(8, &options()));
        for page in one.pages() {
            if let Some(parent) = &page.parent {
                let parent = one.page_by_id(parent).expect("parent exists");
                assert_eq!(parent.space_key, page.space_key);
            }
        }
        assert!(one.pages().iter().any(|p| p.attachments.len() > 25));
        assert!(one.pages().iter().any(|p| p.parent.is_some()));
    }

    #[test]
    fn ancestors_and_descendants_follow_parents() {
        let dataset = Dataset::new()
            .space(SimSpace::new("1", "SP", "Space"))
            .page(SimPage::new("root", "SP"))
            .page(SimPage::new("child", "SP").parent("root"))
            .page(SimPage::new("grandchild", "SP").parent("child"))
            .page(SimPage::new("other", "SP"));
        let grandchild = dataset.page_by_id("grandchild").unwrap();
        assert_eq!(dataset.ancestors(grandchild), ["child", "root"]);
        assert_eq!(
            dataset.descendants_of("root"),
            BTreeSet::from(["child".to_owned(), "grandchild".to_owned()])
        );
    }
}
