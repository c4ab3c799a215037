"""Numbered schema migrations for the catalog.

Each migration is applied once, inside a transaction, and recorded in `schema_migrations`.
Append new migrations at the end; never edit one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


INITIAL_SCHEMA = """
CREATE TABLE classes (
    name        TEXT PRIMARY KEY,
    position    INTEGER NOT NULL,
    target      INTEGER
);

CREATE TABLE queries (
    id          INTEGER PRIMARY KEY,
    class       TEXT NOT NULL REFERENCES classes(name),
    query       TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT 'primary',   -- primary | expanded | suffix
    UNIQUE (class, query)
);

-- Every URL an engine (or a URL list) proposed, with its fate.
CREATE TABLE candidates (
    id            INTEGER PRIMARY KEY,
    url           TEXT NOT NULL,
    class         TEXT,
    thumbnail_url TEXT,
    page_url      TEXT,
    title         TEXT,
    engine        TEXT NOT NULL DEFAULT 'urls',
    query         TEXT,
    width         INTEGER,
    height        INTEGER,
    is_thumbnail  INTEGER NOT NULL DEFAULT 0,
    found_at      TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending', -- pending | stored | duplicate | failed | skipped
    reason        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    image_id      TEXT,
    job_id        INTEGER,
    updated_at    TEXT,
    UNIQUE (url, class)
);
CREATE INDEX candidates_status ON candidates (class, status);
CREATE INDEX candidates_engine ON candidates (engine);

-- One row per image that reached the workspace (downloaded or imported), content-addressed.
-- The first row with given bytes has id = sha256[:16]; a later exact copy from another
-- source gets its own row (status duplicate) pointing at it, so every source stays visible.
CREATE TABLE images (
    id            TEXT PRIMARY KEY,
    sha256        TEXT NOT NULL,
    path          TEXT,             -- relative to the workspace; NULL when nothing was stored
    class         TEXT,             -- NULL for unlabelled pool images
    source        TEXT NOT NULL,    -- download URL, or the original file path for imports
    page_url      TEXT,
    query         TEXT,
    engine        TEXT,
    candidate_id  INTEGER,
    status        TEXT NOT NULL,    -- stored | accepted | rejected | duplicate | conflict | unlabelled
    reason        TEXT,
    flags         TEXT,             -- comma-separated quality flags
    width         INTEGER,
    height        INTEGER,
    format        TEXT,
    bytes         INTEGER,
    phash         TEXT,
    phash_flip    TEXT,
    dhash         TEXT,
    dhash_flip    TEXT,
    split         TEXT,             -- train | val | test
    label_source  TEXT NOT NULL,    -- manual | query | pseudo | none
    confidence    REAL,
    round         INTEGER,
    duplicate_of  TEXT,
    group_id      TEXT,             -- near-duplicate group (the kept image's id)
    curated_path  TEXT,
    added_at      TEXT NOT NULL,
    curated_at    TEXT,
    UNIQUE (sha256, source)
);
CREATE INDEX images_sha ON images (sha256);
CREATE INDEX images_class_status ON images (class, status);
CREATE INDEX images_split ON images (split);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    command       TEXT NOT NULL,    -- JSON list: the argv that resumes it
    state         TEXT NOT NULL,    -- queued | running | done | failed | cancelled | interrupted
    pid           INTEGER,
    progress_done INTEGER NOT NULL DEFAULT 0,
    progress_total INTEGER,
    message       TEXT,
    log_path      TEXT,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT,
    ended_at      TEXT
);

-- Each execution of a stage (crawl, curate, train ...), for audit and reports.
CREATE TABLE stage_runs (
    id            INTEGER PRIMARY KEY,
    stage         TEXT NOT NULL,
    params        TEXT,             -- JSON
    counts        TEXT,             -- JSON
    started_at    TEXT NOT NULL,
    ended_at      TEXT
);

CREATE TABLE runs (
    id            TEXT PRIMARY KEY,  -- the folder name under models/
    model         TEXT NOT NULL,
    round         INTEGER,
    path          TEXT NOT NULL,
    val_accuracy  REAL,
    test_accuracy REAL,
    metrics       TEXT,              -- JSON
    created_at    TEXT NOT NULL
);

CREATE TABLE rounds (
    round         INTEGER PRIMARY KEY,
    state         TEXT NOT NULL,     -- running | done | failed
    run_id        TEXT,
    target        INTEGER,
    candidates    INTEGER,
    accepted      INTEGER,
    val_accuracy  REAL,
    test_accuracy REAL,
    pseudo_precision REAL,
    details       TEXT,              -- JSON
    started_at    TEXT NOT NULL,
    ended_at      TEXT
);
"""

CRAWL_INDEXES = """
CREATE INDEX IF NOT EXISTS images_source ON images (source);
CREATE INDEX IF NOT EXISTS candidates_url ON candidates (url);
CREATE INDEX IF NOT EXISTS candidates_query ON candidates (class, engine, query);
"""

DUPLICATE_JUDGEMENT = """
ALTER TABLE images ADD COLUMN thumb BLOB;        -- 32x32 grey pixels (1,024 bytes): the pixel-level confirm
ALTER TABLE images ADD COLUMN crop_hashes TEXT;  -- pHashes of boxes (92 % and 86 %, 3x3 positions), 16 hex digits each

-- Every pair the duplicate judgement looked at closely, with its verdict (rebuilt by each curate).
CREATE TABLE pairs (
    a             TEXT NOT NULL,     -- image ids, a < b
    b             TEXT NOT NULL,
    kind          TEXT NOT NULL,     -- near_duplicate | conflict | possible_duplicate
    route         TEXT,              -- what confirmed it: pixels | hashes+pixels | crop | embedding | unconfirmed
    phash_distance INTEGER,
    dhash_distance INTEGER,
    crop_distance INTEGER,
    score         REAL,              -- the confirming similarity (pixel correlation or embedding cosine)
    PRIMARY KEY (a, b)
);
CREATE INDEX pairs_kind ON pairs (kind);
"""

FEATURE_SETS = """
-- Embedding caches of frozen backbones (DIR/features/<key>.sqlite), one row per feature spec.
CREATE TABLE IF NOT EXISTS feature_sets (
    key           TEXT PRIMARY KEY,
    spec          TEXT NOT NULL,     -- JSON: backbone, weights fingerprint, input spec, dims
    path          TEXT NOT NULL,
    images        INTEGER NOT NULL DEFAULT 0,
    updated_at    TEXT NOT NULL
);
"""

FAILURE_POLICY = """
-- The HTTP settings a candidate failed under (JSON), so a rerun retries what they now allow.
ALTER TABLE candidates ADD COLUMN policy TEXT;
"""

DATASET_VERSIONS = """
-- Every curate that finished: the dataset version it published as curated/ (issue 19).
CREATE TABLE dataset_versions (
    id            INTEGER PRIMARY KEY,
    version       TEXT NOT NULL,     -- fingerprint of the classes, the split assignment and the curated content
    stage_run     INTEGER,           -- the stage_runs row of the curate that made it
    classes       TEXT NOT NULL,     -- JSON list of the active classes, in config order
    counts        TEXT NOT NULL,     -- JSON {class: {split: images}}
    created_at    TEXT NOT NULL
);
CREATE INDEX dataset_versions_version ON dataset_versions (version);
ALTER TABLE runs ADD COLUMN dataset_version TEXT;              -- the version a run trained on
ALTER TABLE classes ADD COLUMN active INTEGER NOT NULL DEFAULT 1; -- 0: removed from harvest.json, rows kept
"""

INGEST_ANALYSIS = """
-- Curate's analysis (hashes, flags, thumb) made at ingest from the check's own decode: the key
-- of the analysis settings it was made with, until a curate adopts it (then NULL) (issue 21).
ALTER TABLE images ADD COLUMN ingest_analysis TEXT;
"""

ANALYSIS_V2 = """
-- Analysis version 2 (issue 21, stop 25): hashes, thumbnail and flags are made from a grey copy
-- shrunk after conversion (an RGB copy shrunk before: a few hashes differ by 1-3 bits). Images
-- analysed before are analysed again by the next curate, which analyses rows without a thumb,
-- so that every stored hash is compared with hashes made the same way.
UPDATE images SET thumb = NULL WHERE thumb IS NOT NULL;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", INITIAL_SCHEMA),
    Migration(3, "indexes for resumable crawls", CRAWL_INDEXES),
    Migration(4, "duplicate judgement: thumbnails, crop hashes, pairs", DUPLICATE_JUDGEMENT),
    Migration(5, "embedding caches", FEATURE_SETS),
    Migration(6, "settings a candidate failed under", FAILURE_POLICY),
    Migration(7, "dataset versions, runs tied to them, inactive classes", DATASET_VERSIONS),
    Migration(9, "analysis made at ingest", INGEST_ANALYSIS),
    Migration(10, "analysis version 2: analyse stored images again", ANALYSIS_V2),
)
