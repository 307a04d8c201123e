-- A flush leases the batches it takes instead of holding them locked in a transaction while it
-- embeds and inserts them: it names itself (its run and step) and how long the lease lasts, and
-- renews it while it works. Embedding and inserting then happen outside any transaction, so a
-- slow or rate-limited provider never pins an xmin in the database that holds the product's
-- tables. A lease that expires (its flush died) may be taken by any flush; a retry of the same
-- step takes its own at once.
ALTER TABLE vecsync.pending_batches ADD COLUMN leased_by text, ADD COLUMN lease_expires_at timestamptz;
