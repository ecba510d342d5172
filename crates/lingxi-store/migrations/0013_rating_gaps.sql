-- A "not useful" rating logs its question as a gap once per conversation and question: a
-- unique key makes that hold for simultaneous ratings too (before, the server checked and then
-- inserted, and two ratings at once could both insert). Duplicates such a race left behind go
-- first, keeping a drafted one if there is one, else the smallest id.
DELETE FROM kb_gaps
WHERE kind = 'not_useful' AND conversation_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM kb_gaps o
    WHERE o.tenant_id = kb_gaps.tenant_id AND o.conversation_id = kb_gaps.conversation_id
      AND o.text = kb_gaps.text AND o.kind = 'not_useful' AND o.id <> kb_gaps.id
      AND ((o.drafted_entry_id IS NOT NULL AND kb_gaps.drafted_entry_id IS NULL)
        OR ((o.drafted_entry_id IS NULL) = (kb_gaps.drafted_entry_id IS NULL) AND o.id < kb_gaps.id))
);
CREATE UNIQUE INDEX kb_gaps_rated_once ON kb_gaps (tenant_id, conversation_id, text) WHERE kind = 'not_useful';
