// One JSON POST with a deadline, for the Slack and webhook channels. A non-2xx answer is an error
// naming the host only: Slack's URL path is its secret.
/** POSTs `body` as JSON; resolves on 2xx, throws otherwise. */
export async function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const host = new URL(url).host;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'KubeScribe', ...headers },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = (error as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause?.code ?? cause?.message ?? (error as Error).message;
    throw new Error(`POST to ${host} failed: ${reason}`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) throw new Error(`POST to ${host}: HTTP ${response.status}${text ? ` ${text.slice(0, 200)}` : ''}`);
}
