-- leadstream connector, schema version 1 (PostgreSQL).

-- one row per lead: its handover event with the highest sequence
CREATE TABLE leads (
    lead_id            TEXT PRIMARY KEY,
    sequence           INTEGER NOT NULL,
    stage              TEXT NOT NULL,
    last_kind          TEXT NOT NULL,
    last_reason        TEXT NOT NULL,
    last_transition_id TEXT NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    score              DOUBLE PRECISION,
    grade              TEXT,
    fit_points         DOUBLE PRECISION,
    matrix             TEXT,
    temperature        TEXT,
    bant_status        TEXT,
    team               TEXT,
    owner              TEXT,
    profile            JSONB NOT NULL,
    bant               JSONB NOT NULL,
    attribution        JSONB,
    source_type        TEXT,
    account_id         TEXT,
    model_name         TEXT,
    model_version      TEXT
);
CREATE INDEX leads_stage ON leads (stage);
CREATE INDEX leads_account ON leads (account_id);

-- one row per stage transition, SLA breach and update, with the snapshot it carried (a lead's
-- row is rebuilt from these after a merge or an erasure)
CREATE TABLE transitions (
    transition_id     TEXT PRIMARY KEY,
    lead_id           TEXT NOT NULL,
    published_lead_id TEXT NOT NULL,
    sequence          INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    from_stage        TEXT NOT NULL,
    to_stage          TEXT NOT NULL,
    reason            TEXT NOT NULL,
    detail            TEXT,
    occurred_at       TIMESTAMPTZ NOT NULL,
    trigger_event_id  TEXT,
    trigger_type      TEXT,
    score             DOUBLE PRECISION,
    grade             TEXT,
    fit_points        DOUBLE PRECISION,
    matrix            TEXT,
    temperature       TEXT,
    bant_status       TEXT,
    team              TEXT,
    owner             TEXT,
    profile           JSONB NOT NULL,
    bant              JSONB NOT NULL,
    attribution       JSONB,
    source_type       TEXT,
    account_id        TEXT,
    model_name        TEXT,
    model_version     TEXT
);
CREATE INDEX transitions_lead ON transitions (lead_id, sequence);
CREATE INDEX transitions_published ON transitions (published_lead_id);

CREATE TABLE consent_changes (
    change_id         TEXT PRIMARY KEY,
    lead_id           TEXT NOT NULL,
    published_lead_id TEXT NOT NULL,
    scope             TEXT NOT NULL,
    status            TEXT NOT NULL,
    occurred_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_changes_lead ON consent_changes (lead_id, scope);
CREATE INDEX consent_changes_published ON consent_changes (published_lead_id);

-- a lead's consent per scope: its newest statement (event time, then change_id)
CREATE VIEW lead_consent AS
SELECT c.lead_id, c.scope, c.status, c.occurred_at, c.change_id
FROM consent_changes c
WHERE NOT EXISTS (
    SELECT 1 FROM consent_changes n
    WHERE n.lead_id = c.lead_id AND n.scope = c.scope
      AND (n.occurred_at > c.occurred_at
           OR (n.occurred_at = c.occurred_at AND n.change_id > c.change_id)));

CREATE TABLE merges (
    merge_id    TEXT PRIMARY KEY,
    survivor    TEXT NOT NULL,
    absorbed    TEXT NOT NULL,
    rule        TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX merges_absorbed ON merges (absorbed);
CREATE INDEX merges_survivor ON merges (survivor);

CREATE TABLE account_engagements (
    engagement_id TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL,
    entry         INTEGER NOT NULL,
    engagement    DOUBLE PRECISION NOT NULL,
    best_grade    TEXT,
    occurred_at   TIMESTAMPTZ NOT NULL
);
CREATE TABLE account_engagement_contacts (
    engagement_id TEXT NOT NULL,
    lead_id       TEXT NOT NULL,
    score         DOUBLE PRECISION,
    grade         TEXT,
    stage         TEXT,
    role          TEXT,
    PRIMARY KEY (engagement_id, lead_id)
);
CREATE INDEX account_engagement_contacts_lead ON account_engagement_contacts (lead_id);

-- what an erasure leaves: a one-way hash per erased id with the erasure's time, the ids of the
-- events it deleted (so a late copy is not taken in again) and the erasure's own id
CREATE TABLE erased_ids (
    id_hash   TEXT PRIMARY KEY,
    erased_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE erased_events (
    event_id TEXT PRIMARY KEY
);
CREATE TABLE erasures (
    erase_id TEXT PRIMARY KEY
);

-- the next offset to read per partition, written in the same transaction as the rows
CREATE TABLE consumer_offsets (
    topic           TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    next_offset     BIGINT NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);

-- handover records the connector could not store, with their bytes
CREATE TABLE connector_rejects (
    topic           TEXT NOT NULL,
    kafka_partition INTEGER NOT NULL,
    record_offset   BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    value_b64       TEXT,
    rejected_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (topic, kafka_partition, record_offset)
);

-- the CRM's accept/reject buttons: insert a row; the connector sends it to lead-feedback and
-- sets sent_at (or error, when the row is not a valid verdict)
CREATE TABLE crm_verdicts (
    feedback_id TEXT PRIMARY KEY,
    lead_id     TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    reason      TEXT,
    owner       TEXT,
    bant        JSONB,
    amount      DOUBLE PRECISION,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    error       TEXT
);
CREATE INDEX crm_verdicts_unsent ON crm_verdicts (sent_at, created_at);
