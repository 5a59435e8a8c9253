// A TypeScript/JavaScript service's view of the product's runs: @temporalio/client with its default
// data converter (plain JSON, no payload store, no codec). Starts an AgentWorkflow and a
// ResearchWorkflow, reads their status, approves the report with the `approve` Update, and prints
// what it read as one JSON document on stdout.
//
//   node interop.mjs ADDRESS TASK_QUEUE ID_PREFIX
import { Connection, WorkflowClient } from '@temporalio/client';

const [address, taskQueue, prefix] = process.argv.slice(2);
if (!address || !taskQueue || !prefix) {
  console.error('usage: node interop.mjs ADDRESS TASK_QUEUE ID_PREFIX');
  process.exit(2);
}

async function pendingApproval(handle, withinMs = 60_000) {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const status = await handle.query('status');
    if (status.pending_approval) return status;
    if (Date.now() > deadline) throw new Error(`no approval requested: ${status.phase}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const connection = await Connection.connect({ address });
try {
  const client = new WorkflowClient({ connection, namespace: 'default' });

  const agent = await client.start('AgentWorkflow', {
    taskQueue,
    workflowId: `${prefix}-agent`,
    args: [{ goal: 'What is 17 * 23?', tools: ['calculator'], max_iterations: 5 }],
  });
  const research = await client.start('ResearchWorkflow', {
    taskQueue,
    workflowId: `${prefix}-research`,
    args: [{ topic: 'tide pools', max_subtopics: 2, approvers: ['ana'] }],
  });

  const agentResult = await agent.result();
  const agentStatus = await agent.query('status');
  const waiting = await pendingApproval(research);
  const decision = await research.executeUpdate('approve', {
    args: [{ approver: 'ana', approved: true, comment: 'approved from node' }],
  });
  const researchResult = await research.result();
  const researchStatus = await research.query('status');

  console.log(
    JSON.stringify({
      agent: { id: agent.workflowId, answer: agentResult.answer, phase: agentStatus.phase },
      research: {
        id: research.workflowId,
        report: researchResult.report,
        waiting_phase: waiting.phase,
        decision,
        phase: researchStatus.phase,
      },
    }),
  );
} finally {
  await connection.close();
}
