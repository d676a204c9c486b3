// Package workflows will hold automation rules: triggers (record events read
// from the engine's outbox, cron schedules, date-relative triggers, manual and
// inbound webhooks), conditions in the expression language, actions as plugin
// modules, a durable leased runner with retries and an execution log. It never
// imports forms or dashboards.
package workflows
