//! Benign OpenAI chat bodies of a given size, mixed English and Chinese, deterministic.
//!
//! "Benign": no keyword or regex of the benchmark policies matches (checked by
//! `bench/tests/policies.rs` and again by the benchmarks before they time anything), so every
//! byte of text is scanned, which is the common case and the worst one for a scanner. Chinese
//! sentences use full-width punctuation (，：？！（）) as Chinese text does, which NFKC rewrites.
//!
//! This file depends only on std: `engine/benches` includes it by path.

#![allow(
    dead_code,
    reason = "engine/benches includes this file by path and uses part of it"
)]

use super::spec::Rng;

const EN: &[&str] = &[
    "Could you help me write a short summary of the meeting notes below?",
    "The team discussed how to improve the onboarding flow for new users.",
    "We want the tone to be friendly but professional, and not too long.",
    "Please keep the list of action items at the end of the message.",
    "Last quarter we shipped the new search page and the mobile release.",
    "The weather in Hangzhou was rainy, so the offsite moved indoors.",
    "Explain the difference between a process and a thread in simple words.",
    "Rewrite this paragraph so that it reads more naturally in English.",
    "What are some good books about the history of the Silk Road?",
    "I am planning a trip to Chengdu and would like to try local food.",
    "Give me three ideas for a team building activity on a small budget.",
    "The function returns early when the input list is empty.",
    "Our customers asked for an export button on the reports page.",
    "Translate the following text into Chinese and keep the formatting.",
    "Thanks for the quick reply, the draft looks good to me.",
    "Can you suggest a better title for this blog post about gardening?",
    "The cat sat on the windowsill and watched the birds all afternoon.",
    "Summarize the key points in no more than five bullet points.",
    "We should schedule a follow-up call after the holiday.",
    "The recipe needs two cups of flour, one egg and a pinch of salt.",
    "How do I center a div with flexbox in a responsive layout?",
    "The museum opens at nine and closes at five on weekdays.",
    "Write a polite email declining the invitation to the conference.",
    "The new coffee machine on the third floor makes excellent espresso.",
    "Please check the grammar and spelling of the text that follows.",
    "Rivers in the south flood more often during the summer months.",
    "A good test suite makes refactoring much less stressful.",
    "List a few pros and cons of working from home.",
    "The concert was sold out, so we watched the stream instead.",
    "Use a table to compare the three options side by side.",
];

const ZH: &[&str] = &[
    "请帮我把下面的会议记录整理成一份简短的总结。",
    "我们讨论了如何改进新用户的注册流程，大家都很积极。",
    "语气要友好但专业，篇幅不要太长。",
    "上个季度我们发布了新的搜索页面和移动端版本。",
    "杭州这几天一直下雨，所以团建活动改到了室内。",
    "用简单的话解释一下进程和线程的区别。",
    "有没有关于丝绸之路历史的好书推荐？",
    "我打算去成都旅行，想尝尝当地的美食！",
    "给我三个预算不高的团队活动点子。",
    "客户希望在报表页面增加一个导出按钮。",
    "请把下面这段话翻译成英文，并保留原来的格式。",
    "谢谢你的快速回复，这份草稿我觉得很好。",
    "能不能给这篇关于园艺的博客起一个更好的标题？",
    "猫整个下午都坐在窗台上看鸟。",
    "请用不超过五条要点概括主要内容。",
    "我们应该在假期之后安排一次跟进电话。",
    "这道菜需要两杯面粉、一个鸡蛋和一小撮盐。",
    "博物馆工作日早上九点开门，下午五点关门。",
    "写一封礼貌的邮件，婉拒参加这次大会的邀请。",
    "三楼新买的咖啡机做的浓缩咖啡非常好喝。",
    "南方的河流在夏天更容易发生洪水。",
    "一套好的测试能让重构变得轻松很多。",
    "列出在家办公的几个优点和缺点（越具体越好）。",
    "演唱会的票卖完了，所以我们看了直播。",
    "用表格把这三个方案并排比较一下：价格、速度和易用性。",
    "春天的西湖边开满了桃花，游客很多。",
    "请检查下面这段文字的语法和错别字。",
    "这个函数在输入列表为空时会提前返回。",
    "周末我们去爬山，山顶的风景特别美。",
    "老师建议每天坚持阅读半小时。",
];

/// Sentences with numbers, as prompts have them: dates, times, amounts, counts, versions. Each
/// number starts a few of the benchmark policies' screen literals (two digits, a digit and a
/// dot), so their regexes run on the text around it; none is a number any of them matches.
const NUMBERED: &[&str] = &[
    "In Q3 2024 we closed 128 tickets and shipped 4 releases.",
    "The meeting moved to 10:30 on May 12, room 3.",
    "Version 2.4 fixed 17 bugs and made search 35% faster.",
    "We need 250 g of flour, 2 eggs and 1.5 cups of milk.",
    "The hotel costs 680 yuan a night for 3 nights.",
    "会议改到下午3点，大约有12个人参加。",
    "这个版本修复了17个问题，搜索快了35%。",
    "上个月我们一共处理了1024个工单。",
    "从杭州到上海的高铁大约需要45分钟。",
    "请在2025年3月之前提交第2版的草稿。",
];

/// One message's content: sentences from both languages, `target` bytes or a little more; with
/// `numbers`, one sentence in four is one of [`NUMBERED`].
fn paragraph(rng: &mut Rng, target: usize, numbers: bool) -> String {
    let mut text = String::new();
    while text.len() < target {
        let sentence = if numbers && rng.below(4) == 0 {
            rng.pick(NUMBERED)
        } else if rng.below(2) == 0 {
            rng.pick(EN)
        } else {
            rng.pick(ZH)
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push(' ');
        }
        text.push_str(sentence);
        if rng.below(6) == 0 {
            text.push('\n');
        }
    }
    text
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An OpenAI chat-completions body of about `size` bytes (a few bytes more at most): a system
/// prompt, then user and assistant turns of 200 to 4,000 bytes each.
pub fn chat_body(size: usize) -> Vec<u8> {
    chat_body_of(size, false)
}

/// [`chat_body`] with one sentence in four holding numbers ([`NUMBERED`]): what a prompt that
/// mentions dates, amounts and versions costs.
pub fn numbered_chat_body(size: usize) -> Vec<u8> {
    chat_body_of(size, true)
}

fn chat_body_of(size: usize, numbers: bool) -> Vec<u8> {
    let mut rng = Rng::new(0x626f_6479 ^ size as u64);
    let head = r#"{"model":"qwen-plus","temperature":0.7,"stream":false,"messages":["#;
    let tail = "]}";
    let mut body = String::from(head);
    let mut messages = 0usize;
    loop {
        let room = size.saturating_sub(body.len() + tail.len() + 40);
        if room < 16 && messages > 0 {
            break;
        }
        let role = match messages {
            0 => "system",
            n if n % 2 == 1 => "user",
            _ => "assistant",
        };
        let want = (200 + rng.below(3800)).min(room.max(16));
        let mut content = paragraph(&mut rng, want, numbers);
        // Cut to fit, on a character boundary.
        while content.len() > want.max(8) {
            content.pop();
        }
        if messages > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"role":"{role}","content":{}}}"#,
            json_string(&content)
        ));
        messages += 1;
    }
    body.push_str(tail);
    body.into_bytes()
}

/// The text of a chat body's messages joined as one plain-text body (what `extract` makes of a
/// `text/plain` body: one segment), for scan-only benchmarks.
pub fn plain_text(size: usize) -> Vec<u8> {
    let mut rng = Rng::new(0x7465_7874 ^ size as u64);
    let mut text = paragraph(&mut rng, size, false);
    while text.len() > size {
        text.pop();
    }
    text.into_bytes()
}
