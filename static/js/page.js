// Loaded by base.html after the page's own module: a page that opened no socket gets one that
// carries only the top bar. (A file, not an inline script: the Content-Security-Policy allows none.)
import { ensureLive } from "./live.js";

ensureLive();
