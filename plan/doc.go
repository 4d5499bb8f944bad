// Package plan sizes Azure OpenAI capacity for a workload: how many PTUs per
// model, which standard (TPM) deployments in which regions and subscriptions
// within quota, what share of the tokens spills from the PTU to them, and
// what the plan costs a month against all-TPM and all-PTU.
//
// The workload, the quotas and the prices are inputs; the facts about
// provisioned throughput (input TPM per PTU, the output-to-input ratio,
// minimum and increment of units) come from a table of Microsoft's published
// figures (see Facts) that a workload can override. The load over a month is
// modelled by a linear load-duration curve through the workload's peak and
// average (see Curve); docs/plan.md explains the model and its limits.
package plan
