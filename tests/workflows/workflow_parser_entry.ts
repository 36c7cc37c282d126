/**
 * The entry `workflow_file.ts` bundles GitHub's workflow parser from (see `workflowParser`).
 *
 * @module
 */
export * from "@actions/workflow-parser";
