-- retro-service: the database of a small team service for sprint retrospectives, the example
-- of "bring your own schema". Seven tables with foreign keys, a composite key (note_tags), a
-- sequence of its own (ticket numbers), a trigger that writes another table (note counts), a
-- view and uuid keys (action_items). Data is generated, deterministic, and scales with the psql
-- variable :scale (seed.variables.scale in the scenario; 1 when not given): about 6 MB at 1.

\set ON_ERROR_STOP on
\if :{?scale}
\else
  \set scale 1
\endif

CREATE TABLE teams (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT '2026-01-05 09:00+00'
);

CREATE TABLE members (
  id          bigserial PRIMARY KEY,
  team_id     bigint NOT NULL REFERENCES teams(id),
  handle      text NOT NULL,
  email       text NOT NULL UNIQUE,
  joined_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX members_team_idx ON members (team_id);

CREATE TABLE sprints (
  id          bigserial PRIMARY KEY,
  team_id     bigint NOT NULL REFERENCES teams(id),
  name        text NOT NULL,
  starts_on   date NOT NULL,
  ends_on     date NOT NULL CHECK (ends_on > starts_on)
);

-- ticket numbers come from a sequence of their own, not the key's: logical replication does
-- not carry it, and a migration that forgets it hands out numbers twice
CREATE SEQUENCE retro_ticket_seq START 1000;

CREATE TABLE retrospectives (
  id          bigserial PRIMARY KEY,
  sprint_id   bigint NOT NULL REFERENCES sprints(id),
  ticket_no   bigint NOT NULL UNIQUE DEFAULT nextval('retro_ticket_seq'),
  title       text NOT NULL,
  status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'voting', 'closed')),
  note_count  integer NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notes (
  id          bigserial PRIMARY KEY,
  retro_id    bigint NOT NULL REFERENCES retrospectives(id),
  author_id   bigint NOT NULL REFERENCES members(id),
  kind        text NOT NULL CHECK (kind IN ('went-well', 'to-improve', 'idea')),
  body        text NOT NULL,
  votes       integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_retro_idx ON notes (retro_id);

-- the composite key: a note's tags
CREATE TABLE note_tags (
  note_id     bigint NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  tag         text NOT NULL,
  PRIMARY KEY (note_id, tag)
);

CREATE TABLE action_items (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  note_id     bigint NOT NULL REFERENCES notes(id),
  owner_id    bigint NOT NULL REFERENCES members(id),
  due_on      date NOT NULL,
  done        boolean NOT NULL DEFAULT false
);
CREATE INDEX action_items_owner_idx ON action_items (owner_id) WHERE NOT done;

-- the trigger: every note counts on its retrospective (a write into another table, which a
-- logical subscriber must not repeat: its apply worker runs with triggers off)
CREATE FUNCTION count_notes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE retrospectives SET note_count = note_count + 1, updated_at = now() WHERE id = NEW.retro_id;
    RETURN NEW;
  END IF;
  UPDATE retrospectives SET note_count = note_count - 1, updated_at = now() WHERE id = OLD.retro_id;
  RETURN OLD;
END $$;
CREATE TRIGGER notes_count AFTER INSERT OR DELETE ON notes FOR EACH ROW EXECUTE FUNCTION count_notes();

CREATE VIEW retro_board AS
  SELECT r.id, r.ticket_no, r.title, r.status, r.note_count,
         count(*) FILTER (WHERE n.kind = 'to-improve') AS to_improve
    FROM retrospectives r LEFT JOIN notes n ON n.retro_id = r.id
   GROUP BY r.id;

-- the data: deterministic (no random()), so every run starts from the same rows
INSERT INTO teams (name)
  SELECT 'team-' || g FROM generate_series(1, 10 * :scale) AS g;
INSERT INTO members (team_id, handle, email, joined_at)
  SELECT 1 + (g - 1) % (10 * :scale), 'member' || g, 'member' || g || '@retro.test', timestamptz '2026-01-05 09:00+00' + g * interval '1 minute'
    FROM generate_series(1, 100 * :scale) AS g;
INSERT INTO sprints (team_id, name, starts_on, ends_on)
  SELECT 1 + (g - 1) % (10 * :scale), 'sprint ' || g, date '2026-01-05' + (g % 20) * 14, date '2026-01-05' + (g % 20) * 14 + 13
    FROM generate_series(1, 100 * :scale) AS g;
INSERT INTO retrospectives (sprint_id, title, status, updated_at)
  SELECT 1 + (g - 1) % (100 * :scale), 'Retro of sprint ' || (1 + (g - 1) % (100 * :scale)) || ' #' || g,
         (ARRAY['open', 'voting', 'closed'])[1 + g % 3], timestamptz '2026-02-01 10:00+00' + g * interval '1 hour'
    FROM generate_series(1, 200 * :scale) AS g;
-- the counts are set from the notes at the end, in one statement rather than one update per note
ALTER TABLE notes DISABLE TRIGGER notes_count;
INSERT INTO notes (retro_id, author_id, kind, body, votes, created_at)
  SELECT 1 + (g * 7) % (200 * :scale), 1 + (g * 13) % (100 * :scale), (ARRAY['went-well', 'to-improve', 'idea'])[1 + g % 3],
         'note ' || g || ': ' || md5(g::text) || ' ' || md5((g * 31)::text), g % 9,
         timestamptz '2026-02-01 10:00+00' + g * interval '1 minute'
    FROM generate_series(1, 4000 * :scale) AS g;
INSERT INTO note_tags (note_id, tag)
  SELECT n, 'tag-' || (1 + (n * 3 + t) % 40) FROM generate_series(1, 4000 * :scale) AS n, generate_series(1, 2) AS t
   WHERE n % 3 <> 0;
INSERT INTO action_items (id, note_id, owner_id, due_on, done)
  SELECT md5('action' || g)::uuid, g * 4, 1 + (g * 17) % (100 * :scale), date '2026-03-01' + g % 60, g % 4 = 0
    FROM generate_series(1, 1000 * :scale) AS g;
ALTER TABLE notes ENABLE TRIGGER notes_count;
UPDATE retrospectives r SET note_count = c.n FROM (SELECT retro_id, count(*) AS n FROM notes GROUP BY retro_id) c WHERE c.retro_id = r.id;
