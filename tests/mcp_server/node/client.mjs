// An MCP client nobody on the team wrote: the official TypeScript SDK (@modelcontextprotocol/sdk)
// launches `python -m starter mcp` over stdio, as a desktop client does, lists its tools, asks a
// question with progress, and sends a bad input. Prints what it saw as one JSON document on stdout.
//
//   node client.mjs PYTHON REPO_DIR CORPUS QUESTION   (the server's settings come from the environment)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const [python, repo, corpus, question] = process.argv.slice(2);
if (!python || !repo || !corpus || !question) {
  console.error('usage: node client.mjs PYTHON REPO_DIR CORPUS QUESTION');
  process.exit(2);
}

const transport = new StdioClientTransport({
  command: python,
  args: ['-m', 'starter', 'mcp'],
  cwd: repo,
  env: { ...process.env },
  stderr: 'inherit',
});
const client = new Client({ name: 'node-mcp-client', version: '1.0.0' });
await client.connect(transport);
try {
  const { tools } = await client.listTools();
  const progress = [];
  const asked = await client.callTool(
    { name: 'ask', arguments: { question, corpus, top_k: 3 } },
    undefined,
    { onprogress: (note) => progress.push(note), timeout: 180_000 },
  );
  const refused = await client.callTool({ name: 'ask', arguments: { question, top_k: 0 } });
  console.log(
    JSON.stringify({
      server: client.getServerVersion(),
      tools: tools.map((tool) => ({
        name: tool.name,
        readOnly: tool.annotations?.readOnlyHint ?? null,
        required: tool.inputSchema.required ?? [],
      })),
      ask: { isError: asked.isError ?? false, structured: asked.structuredContent, text: asked.content[0].text },
      progress,
      refused: { isError: refused.isError ?? false, text: refused.content[0].text },
    }),
  );
} finally {
  await client.close();
}
