/** Wait for `promise`, or `ms` at most; the timer never outlives the wait. */
export async function withDeadline(promise: Promise<unknown>, ms: number): Promise<'done' | 'expired'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), ms);
  });
  try {
    return await Promise.race([promise.then(() => 'done' as const), expired]);
  } finally {
    clearTimeout(timer);
  }
}
