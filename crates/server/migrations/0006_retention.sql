-- Retention removes old events with their deliveries: find a batch's deliveries by event.
CREATE INDEX deliveries_by_event ON deliveries(event_seq);
