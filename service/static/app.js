// The page: readiness, the model list, the form (translate, or align a given translation), and the results.

import { ApiError, call, readiness, setApiKey } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { renderHeatmap } from "./heatmap.js";
import { subwordView, wordView } from "./matrix.js";

const KEY_STORAGE = "heed.apiKey";
const MAX_BEAM = 16;
const RETRY_SECONDS = 5;
const MAX_RETRY_SECONDS = 30;
const MAX_DRAWN_CELLS = 40_000; // a table cell each; beyond this the browser slows down more than the view helps

const EXAMPLES = {
  en: {
    translate: "A man is riding a bike. Two dogs are playing in the snow.\nThe children are laughing.",
    align: ["A man is riding a bike.\nA woman is reading a book.", "Ein Mann fährt Fahrrad.\nEine Frau liest ein Buch."],
  },
  de: {
    translate: "Ein Mann fährt Fahrrad. Zwei Hunde spielen im Schnee.\nDie Kinder lachen.",
    align: ["Ein Mann fährt Fahrrad.\nEine Frau liest ein Buch.", "A man is riding a bike.\nA woman is reading a book."],
  },
};

const $ = (id) => document.getElementById(id);
const elements = {
  status: $("service-status"),
  banner: $("banner"),
  form: $("work-form"),
  model: $("model"),
  modelHint: $("model-hint"),
  beam: $("beam-size"),
  nBest: $("n-best"),
  source: $("source-text"),
  sourceLabel: $("source-label"),
  sourceHint: $("source-hint"),
  sourceProblem: $("source-problem"),
  translationField: $("translation-field"),
  translation: $("translation-text"),
  alignmentMethod: $("alignment-method"),
  translationProblem: $("translation-problem"),
  submit: $("translate"),
  example: $("example"),
  busy: $("busy"),
  access: $("access"),
  apiKey: $("api-key"),
  results: $("results"),
  error: $("error"),
  resultMeta: $("result-meta"),
  empty: $("empty"),
  sentences: $("sentences"),
};

const state = {
  models: [],
  result: null, // the last TranslationResult shown
  level: "subword",
  request: null, // AbortController of the request in flight
  ready: false,
  readinessTimer: 0,
};

// ---- language names -------------------------------------------------------------------------------------------

const languageNames = (() => {
  try {
    return new Intl.DisplayNames(["en"], { type: "language" });
  } catch {
    return null;
  }
})();

function languageName(code) {
  try {
    return (languageNames && languageNames.of(code)) || code;
  } catch {
    return code;
  }
}

// ---- service status and banner --------------------------------------------------------------------------------

function setStatus(kind, text) {
  elements.status.dataset.state = kind;
  elements.status.querySelector(".service-status__text").textContent = text;
}

function showBanner(title, message) {
  elements.banner.querySelector(".banner__title").textContent = title;
  elements.banner.querySelector(".banner__message").textContent = message;
  elements.banner.hidden = false;
}

function hideBanner() {
  elements.banner.hidden = true;
}

function scheduleReadiness(seconds) {
  window.clearTimeout(state.readinessTimer);
  state.readinessTimer = window.setTimeout(checkReadiness, seconds * 1000);
}

async function checkReadiness(attempt = 0) {
  try {
    const body = await readiness();
    if (body.status === "ready") {
      state.ready = true;
      hideBanner();
      await loadModels();
      return;
    }
    state.ready = false;
    const wait = body.retryAfter || RETRY_SECONDS;
    setStatus("starting", "Not ready");
    const reason = body.reason ? `: ${body.reason}` : "";
    showBanner("The service is not ready yet",
      `heed answered that it is not ready${reason}. This page checks again every ${wait} s and fills in the ` +
      "model list once it is ready.");
    if (body.models && body.models.length && !state.models.length) await loadModels({ quiet: true });
    scheduleReadiness(wait);
  } catch (error) {
    state.ready = false;
    const wait = Math.min(MAX_RETRY_SECONDS, RETRY_SECONDS * 2 ** attempt);
    setStatus("offline", "Unreachable");
    const explained = error instanceof ApiError ? error : new ApiError({ title: "Could not reach heed", message: String(error) });
    showBanner(explained.title, `${explained.message} This page checks again in ${wait} s.`);
    window.clearTimeout(state.readinessTimer);
    state.readinessTimer = window.setTimeout(() => checkReadiness(attempt + 1), wait * 1000);
  }
}

// ---- models ---------------------------------------------------------------------------------------------------

function modelLabel(model) {
  return `${languageName(model.source_language)} → ${languageName(model.target_language)} · ${model.name}`;
}

function selectedModel() {
  return state.models.find((model) => model.name === elements.model.value) || null;
}

async function loadModels({ quiet = false } = {}) {
  let list;
  try {
    list = await call("/v1/models");
  } catch (error) {
    if (quiet) return;
    if (error instanceof ApiError && error.status === 503) {
      scheduleReadiness(error.retryAfter || RETRY_SECONDS);
      return;
    }
    setStatus("problem", "No models");
    showBanner(error.title, error.message);
    if (error.status === 401 || error.status === 403) elements.access.open = true;
    return;
  }
  const previous = elements.model.value;
  state.models = list.models || [];
  const options = state.models.map((model) => h("option", { value: model.name }, modelLabel(model)));
  if (!options.length) options.push(h("option", { value: "" }, "No model is served"));
  replaceChildren(elements.model, options);
  elements.model.disabled = !state.models.length;
  const wanted = new URLSearchParams(window.location.search).get("model") || previous;
  if (state.models.some((model) => model.name === wanted)) elements.model.value = wanted;
  const unavailable = (list.unavailable || []).map((entry) => `${entry.name} (${entry.reason})`);
  if (state.models.length) {
    if (state.ready) hideBanner();
    if (state.ready) setStatus("ready", `Ready · ${state.models.length} model${state.models.length === 1 ? "" : "s"}`);
    if (unavailable.length) elements.modelHint.textContent = `Not available: ${unavailable.join("; ")}`;
  } else {
    setStatus("problem", "No models");
    showBanner("No model is served", unavailable.length
      ? `Every model failed to load: ${unavailable.join("; ")}.`
      : "The service runs but serves no model: its models folder holds no bundle.");
  }
  modelChanged();
}

function modelChanged() {
  const model = selectedModel();
  const source = model ? model.source_language : "";
  const target = model ? model.target_language : "";
  elements.source.lang = source;
  elements.translation.lang = target;
  const sourceName = model ? languageName(source) : "";
  elements.source.placeholder = model
    ? `Type or paste ${sourceName} text. Each sentence is translated on its own.` : "";
  elements.translation.placeholder = model ? `The ${languageName(target)} translation, one sentence per line.` : "";
  if (model && !elements.modelHint.textContent.startsWith("Not available")) {
    const version = model.version ? `version ${model.version}` : "";
    const score = model.score_function ? `${model.score_function} attention` : "";
    const decoder = model.decoder === "conditional" ? "conditional GRU decoder" : "";
    elements.modelHint.textContent = [version, score, decoder].filter(Boolean).join(" · ");
  }
  const defaultBeam = model && model.decoding && Number.isInteger(model.decoding.beam_size) ? model.decoding.beam_size : 4;
  if (!elements.beam.dataset.touched) elements.beam.value = String(Math.min(MAX_BEAM, Math.max(1, defaultBeam)));
  beamChanged();
  exampleAvailability();
}

function beamChanged() {
  const beam = clampInteger(elements.beam.value, 1, MAX_BEAM, 4);
  elements.nBest.max = String(beam);
  if (Number(elements.nBest.value) > beam) elements.nBest.value = String(beam);
}

function clampInteger(value, low, high, fallback) {
  const number = Number.parseInt(value, 10);
  return Number.isFinite(number) ? Math.min(high, Math.max(low, number)) : fallback;
}

// ---- mode and example -----------------------------------------------------------------------------------------

function mode() {
  return elements.form.elements.mode.value === "align" ? "align" : "translate";
}

function modeChanged() {
  const aligning = mode() === "align";
  elements.translationField.hidden = !aligning;
  elements.sourceLabel.textContent = aligning ? "Source text" : "Text to translate";
  elements.sourceHint.textContent = aligning
    ? "The text the translation below translates; paragraphs are fine."
    : "Paragraphs are fine: heed splits the text into sentences, translates each, keeps your line breaks, " +
      "and gives every sentence its own heatmap.";
  elements.submit.textContent = aligning ? "Align" : "Translate";
  elements.beam.disabled = aligning;
  elements.nBest.disabled = aligning;
  clearProblems();
  exampleAvailability();
}

function exampleAvailability() {
  const model = selectedModel();
  const examples = model ? EXAMPLES[model.source_language] : null;
  const usable = examples && (mode() === "translate" || model.target_language === (model.source_language === "en" ? "de" : "en"));
  elements.example.hidden = !usable;
}

function fillExample() {
  const model = selectedModel();
  const examples = model && EXAMPLES[model.source_language];
  if (!examples) return;
  if (mode() === "align") {
    [elements.source.value, elements.translation.value] = examples.align;
  } else {
    elements.source.value = examples.translate;
  }
  clearProblems();
  elements.source.focus();
}

// ---- submitting -----------------------------------------------------------------------------------------------

function clearProblems() {
  for (const [field, problem] of [[elements.source, elements.sourceProblem], [elements.translation, elements.translationProblem]]) {
    field.removeAttribute("aria-invalid");
    problem.textContent = "";
  }
}

function problem(field, where, message) {
  field.setAttribute("aria-invalid", "true");
  where.textContent = message;
  field.focus();
}

/** The request body, or null after marking the field that needs fixing. */
function requestBody(model) {
  const base = {
    source: model.source_language, target: model.target_language, model: model.name,
    alignment_method: elements.alignmentMethod.value,
  };
  // The text goes whole: the server splits it into sentences (its `segments`), keeps its line breaks and
  // decodes the sentences as rows of one batch; the page shows a card per segment.
  const text = elements.source.value;
  if (mode() === "translate") {
    if (!text.trim()) {
      problem(elements.source, elements.sourceProblem, "Type or paste some text to translate first.");
      return null;
    }
    const beam = clampInteger(elements.beam.value, 1, MAX_BEAM, 4);
    const nBest = clampInteger(elements.nBest.value, 1, beam, 1);
    return { path: "/v1/translate", body: { ...base, text, beam_size: beam, n_best: nBest } };
  }
  const translation = elements.translation.value;
  if (!text.trim()) {
    problem(elements.source, elements.sourceProblem, "Type or paste the source text first.");
    return null;
  }
  if (!translation.trim()) {
    problem(elements.translation, elements.translationProblem, "Type or paste its translation first.");
    return null;
  }
  return { path: "/v1/align", body: { ...base, text, translation } };
}

/** How many sentences a result holds: its texts' segments (a result stored before segments: its texts). */
function sentenceCount(result) {
  return (result.translations || []).reduce((total, item) => total + Math.max(1, (item.segments || []).length), 0);
}

async function submit(event) {
  event.preventDefault();
  clearProblems();
  const model = selectedModel();
  if (!model) {
    showError(new ApiError({
      title: "No model to use",
      message: state.models.length ? "Pick a model first." : "The model list has not loaded yet; see the notice above.",
    }));
    return;
  }
  const request = requestBody(model);
  if (!request) return;
  if (state.request) state.request.abort();
  const controller = new AbortController();
  state.request = controller;
  setBusy(`${mode() === "align" ? "Aligning" : "Translating"}…`);
  try {
    const result = await call(request.path, { method: "POST", body: request.body, signal: controller.signal });
    hideError();
    showResult(result);
    const count = sentenceCount(result);
    setBusy(`${mode() === "align" ? "Aligned" : "Translated"} ${count} ${count === 1 ? "sentence" : "sentences"}.`, false);
  } catch (error) {
    if (error && error.name === "AbortError") return;
    setBusy("", false);
    showError(inPageTerms(error));
    if (error instanceof ApiError && error.status === 503 && error.code === "not_ready") checkReadiness();
  } finally {
    if (state.request === controller) state.request = null;
  }
}

/** An API error as the page words it: its message, starting with a capital. */
function inPageTerms(error) {
  if (!(error instanceof ApiError)) return error;
  const sentence = error.message.charAt(0).toUpperCase() + error.message.slice(1);
  return new ApiError({ ...error, title: error.title, message: sentence });
}

function setBusy(text, busy = true) {
  elements.busy.textContent = text;
  elements.results.setAttribute("aria-busy", busy ? "true" : "false");
  elements.submit.classList.toggle("is-busy", busy);
}

function showError(error) {
  const explained = error instanceof ApiError ? error : new ApiError({ title: "Something went wrong", message: String(error) });
  elements.error.querySelector(".error__title").textContent = explained.title;
  elements.error.querySelector(".error__message").textContent = explained.message;
  const meta = [];
  if (explained.status) meta.push(`HTTP ${explained.status}${explained.code ? ` · ${explained.code}` : ""}`);
  if (explained.requestId) meta.push(`request id ${explained.requestId}`);
  elements.error.querySelector(".error__meta").textContent = meta.join(" · ");
  elements.error.hidden = false;
  elements.empty.hidden = Boolean(state.result);
}

function hideError() {
  elements.error.hidden = true;
}

// ---- results --------------------------------------------------------------------------------------------------

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function pageLink(id) {
  return `${window.location.origin}/?result=${encodeURIComponent(id)}`;
}

function apiPath(id) {
  return `/v1/translations/${encodeURIComponent(id)}`;
}

async function copyText(text, input, note) {
  try {
    await navigator.clipboard.writeText(text);
    note.textContent = "Copied.";
  } catch {
    input.focus();
    input.select();
    note.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
}

function renderMeta(result) {
  const model = result.model || {};
  const summary = h("p", { class: "result-meta__summary" },
    h("span", {}, `${languageName(result.source)} → ${languageName(result.target)}`),
    h("span", {}, `model ${model.name} ${model.version || ""}`.trim()),
    result.stored && result.expires_at ? h("span", {}, `kept until ${formatTime(result.expires_at)}`) : null);
  if (!result.stored) {
    return [summary, h("p", { class: "result-meta__note" },
      "This result was not stored (the result store did not keep it), so it has no link and no downloads.")];
  }
  const link = pageLink(result.id);
  const input = h("input", {
    class: "link-field__input", id: "result-link", type: "text", readonly: true, value: link,
    "data-testid": "result-link", "aria-label": "Link to this result",
  });
  const note = h("span", { class: "link-field__note", role: "status" });
  const copy = h("button", { type: "button", class: "button button--small" }, "Copy link");
  copy.addEventListener("click", () => copyText(link, input, note));
  const json = h("a", { class: "button button--small button--quiet", href: apiPath(result.id), "data-testid": "result-json",
    target: "_blank", rel: "noopener" }, "Stored result (JSON)");
  return [summary, h("div", { class: "link-field" },
    h("label", { for: "result-link", class: "link-field__label" }, "Result ", h("code", {}, result.id)),
    h("div", { class: "link-field__row" }, input, copy, json), note)];
}

function heatmapFor(item, context) {
  if (!item.attention) return h("p", { class: "note" }, "This result holds no attention matrix.");
  const view = state.level === "word" ? wordView(item) : subwordView(item);
  if (view.unavailable) return h("p", { class: "note", "data-testid": "word-view-unavailable" }, view.unavailable);
  const cells = view.rows.length * view.columns.length;
  if (cells > MAX_DRAWN_CELLS) {
    return h("p", { class: "note" }, `This matrix has ${cells.toLocaleString("en")} cells, too many to draw here. ` +
      "Download it below, or split the text into shorter sentences.");
  }
  return renderHeatmap(view, context);
}

function downloadButton(label, path, filename, note) {
  const button = h("button", { type: "button", class: "button button--small button--quiet" }, label);
  button.addEventListener("click", async () => {
    note.textContent = `Downloading ${filename}…`;
    try {
      const blob = await call(path, { as: "blob", accept: "*/*" });
      const url = URL.createObjectURL(blob);
      const anchor = h("a", { href: url, download: filename, hidden: true });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
      note.textContent = `Saved ${filename}.`;
    } catch (error) {
      note.textContent = error instanceof ApiError ? `${error.title}: ${error.message}` : String(error);
    }
  });
  return button;
}

function renderNBest(item) {
  if (!item.n_best || item.n_best.length < 2) return null;
  const entries = item.n_best.map((hypothesis, rank) => h("li", { class: rank === 0 ? "is-best" : "" },
    h("span", { class: "nbest__text" }, hypothesis.text || "(empty)"),
    h("span", { class: "nbest__score", title: "Length-normalized log-probability" }, hypothesis.score.toFixed(3)),
    rank === 0 ? h("span", { class: "badge" }, "chosen") : null));
  return h("details", { class: "nbest", "data-testid": "n-best-list", open: true },
    h("summary", {}, `${item.n_best.length} best hypotheses`),
    h("ol", {}, entries));
}

/** The translation's confidence signals; absent from results stored before heed reported them. */
function renderConfidence(item) {
  const confidence = item.confidence;
  if (!confidence) return null;
  const title = "Mean log-probability per piece (near 0: easy choices) and attention entropy (0: focused, " +
    "1: spread evenly). Values well below what the model gives on text like its training data: distrust the answer.";
  return h("span", { class: "score", title, "data-testid": "confidence" },
    `log-prob/piece ${confidence.mean_log_prob.toFixed(2)} · attention entropy ${confidence.attention_entropy.toFixed(2)}`);
}

/** One sentence card: `where` says which text of the result (`index`) and which of its segments (`segment`,
 *  null for a text that is its only sentence), so the downloads ask the API for exactly this matrix. */
function renderSentence(result, item, where, number, total) {
  const titleId = `sentence-${number}-title`;
  const title = total > 1 ? `Sentence ${number + 1} of ${total}` : "Sentence";
  const context = { title: total > 1 ? `Sentence ${number + 1}` : "Sentence", sourceLanguage: result.source, targetLanguage: result.target };
  const note = h("p", { class: "sentence__note", role: "status" });
  const stem = where.segment === null ? `heed-${result.id}-${where.index}` : `heed-${result.id}-${where.index}-${where.segment}`;
  const part = where.segment === null ? "" : `&segment=${where.segment}`;
  const query = (format) => `${apiPath(result.id)}/alignment?format=${format}&index=${where.index}${part}`;
  const downloads = result.stored ? h("div", { class: "sentence__downloads", role: "group", "aria-label": `Downloads for ${title}` },
    downloadButton("Matrix (JSON)", query("json"), `${stem}.json`, note),
    downloadButton("Alignment (Pharaoh)", query("pharaoh"), `${stem}.pharaoh.txt`, note),
    downloadButton("Heatmap (SVG)", query("svg"), `${stem}.svg`, note)) : null;
  return h("article", { class: "sentence", "aria-labelledby": titleId, "data-testid": "sentence" },
    h("header", { class: "sentence__head" },
      h("h3", { id: titleId }, title),
      h("span", { class: "score", title: "Length-normalized log-probability: higher is better" }, `score ${item.score.toFixed(3)}`),
      renderConfidence(item),
      item.truncated ? h("span", { class: "badge badge--warn" }, "input cut: too long for the model") : null),
    h("dl", { class: "pair" },
      h("div", {}, h("dt", {}, languageName(result.source)), h("dd", { lang: result.source, class: "pair__source" }, item.source)),
      h("div", {}, h("dt", {}, languageName(result.target)),
        h("dd", { lang: result.target, class: "pair__target", "data-testid": "translation" }, item.text || "(empty translation)"))),
    renderNBest(item),
    h("div", { class: "sentence__heatmap" }, heatmapFor(item, context)),
    h("footer", { class: "sentence__foot" },
      h("p", { class: "alignment" }, h("span", { class: "alignment__label", "data-testid": "alignment-label" },
        item.alignment_method ? `Word alignment (source-target, ${item.alignment_method})` : "Word alignment (source-target)"),
        h("code", { "data-testid": "alignment" }, item.alignment || "none")),
      downloads, note));
}

/** A text of several sentences as a whole: its translation in the source's layout, and its alternatives. */
function renderWholeText(result, item) {
  return h("article", { class: "sentence whole-text", "data-testid": "whole-text" },
    h("header", { class: "sentence__head" },
      h("h3", {}, `Text · ${item.segments.length} sentences`),
      h("span", { class: "score", title: "Length-normalized log-probability: higher is better" }, `score ${item.score.toFixed(3)}`),
      renderConfidence(item)),
    h("dl", { class: "pair" },
      h("div", {}, h("dt", {}, languageName(result.source)), h("dd", { lang: result.source, class: "pair__source whole-text__body" }, item.source)),
      h("div", {}, h("dt", {}, languageName(result.target)),
        h("dd", { lang: result.target, class: "pair__target whole-text__body", "data-testid": "text-translation" }, item.text))),
    renderNBest(item));
}

/** The cards of a result: per text, its whole (when it has several sentences), then one card per sentence. */
function renderSentences() {
  const result = state.result;
  if (!result) return;
  const items = result.translations || [];
  const total = sentenceCount(result);
  const cards = [];
  let number = 0;
  items.forEach((item, index) => {
    const segments = item.segments || [];
    if (segments.length <= 1) {
      cards.push(renderSentence(result, item, { index, segment: null }, number++, total));
      return;
    }
    cards.push(renderWholeText(result, item));
    segments.forEach((segment, k) => {
      const sentence = { ...segment, alignment_method: item.alignment_method };
      cards.push(renderSentence(result, sentence, { index, segment: k }, number++, total));
    });
  });
  replaceChildren(elements.sentences, cards);
}

function showResult(result) {
  state.result = result;
  elements.empty.hidden = true;
  replaceChildren(elements.resultMeta, renderMeta(result));
  elements.resultMeta.hidden = false;
  document.getElementById("level-switch").hidden = false;
  renderSentences();
  const url = result.stored ? `/?result=${encodeURIComponent(result.id)}` : "/";
  window.history.replaceState(null, "", url);
}

async function openStoredResult(id) {
  setBusy("Loading the stored result…");
  try {
    const result = await call(apiPath(id));
    hideError();
    showResult(result);
    const items = result.translations || [];
    elements.source.value = items.map((item) => item.source).join("\n");
    setBusy("", false);
  } catch (error) {
    setBusy("", false);
    showError(error);
  }
}

// ---- wiring ---------------------------------------------------------------------------------------------------

function restoreApiKey() {
  try {
    const saved = window.sessionStorage.getItem(KEY_STORAGE) || "";
    elements.apiKey.value = saved;
    setApiKey(saved);
    if (saved) elements.access.open = true;
  } catch {
    // storage disabled: the key lives in the field only
  }
}

function apiKeyChanged() {
  const key = elements.apiKey.value;
  setApiKey(key);
  try {
    if (key.trim()) window.sessionStorage.setItem(KEY_STORAGE, key.trim());
    else window.sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled
  }
  if (!state.models.length) loadModels();
}

function submitOnControlEnter(event) {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    elements.form.requestSubmit();
  }
}

function start() {
  restoreApiKey();
  elements.form.addEventListener("submit", submit);
  elements.model.addEventListener("change", modelChanged);
  elements.beam.addEventListener("input", () => {
    elements.beam.dataset.touched = "true";
    beamChanged();
  });
  elements.form.addEventListener("change", (event) => {
    if (event.target && event.target.name === "mode") modeChanged();
  });
  for (const radio of document.querySelectorAll('input[name="level"]')) {
    radio.addEventListener("change", () => {
      state.level = radio.value === "word" ? "word" : "subword";
      renderSentences();
    });
  }
  elements.example.addEventListener("click", fillExample);
  elements.apiKey.addEventListener("input", () => setApiKey(elements.apiKey.value));
  elements.apiKey.addEventListener("change", apiKeyChanged);
  elements.source.addEventListener("keydown", submitOnControlEnter);
  elements.translation.addEventListener("keydown", submitOnControlEnter);
  elements.source.addEventListener("input", () => {
    if (elements.source.getAttribute("aria-invalid")) clearProblems();
  });
  state.level = document.getElementById("level-word").checked ? "word" : "subword";
  modeChanged();
  checkReadiness();
  const stored = new URLSearchParams(window.location.search).get("result");
  if (stored) openStoredResult(stored);
}

start();
