/**
 * Between the texts of a tool result of several text parts, for families whose tool result is one string (Gemini's
 * `functionResponse`, Ollama's `tool` message): one per line, as the `/v1/messages` entrance joins an all-text
 * Anthropic `tool_result`, so the texts do not run together whichever path and family a result takes.
 */
export const TOOL_RESULT_TEXT_SEPARATOR = '\n';
