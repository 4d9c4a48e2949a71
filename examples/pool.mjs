// examples/pool.mjs
import { createTransformPool } from 'subprocess-transform';

const pool = createTransformPool({ command: ['cat'], processes: 2 });
try {
  const response = await pool.transform(new Response('hello'));
  console.log(await response.text()); // hello
  console.log(pool.stats().processes); // [{ pid, state: 'idle', transforms: 1, ... }, { pid, state: 'starting', ... }]
  await pool.reload(); // fresh processes; a transform in flight would still finish
} finally {
  await pool.close(); // lets work in flight finish, then ends the processes
}
