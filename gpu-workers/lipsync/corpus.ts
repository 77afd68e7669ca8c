// What the embedded voices say to make the lip-sync model's data: live-commerce lines in English and Mandarin.
// The held-out lines are never trained on; the model's evaluation is reported on them.
import type { Utterance } from "./dataset.js";

const en = [
  "Here's the deal: the gooseneck kettle is forty nine dollars today.",
  "It keeps water warm for sixty minutes and shuts off when dry.",
  "Grab the five dollar coupon before it's gone!",
  "The heavyweight cotton hoodie comes in oat, charcoal and forest.",
  "Sizes run from extra small to double extra large.",
  "Pre-shrunk, double lined hood, and a kangaroo pocket with a hidden zip.",
  "Quick heads-up, we only have forty five left in stock.",
  "The desk lamp has five brightness levels and a wireless charger.",
  "It ships within two business days, free over thirty five dollars.",
  "Thirty day returns and a two year warranty on every kettle.",
  "Welcome back everyone, thanks for joining the show tonight.",
  "Which color do you like best? Tell me in the comments.",
  "Look at this matte black finish, it goes with any kitchen.",
  "Five temperature presets, from forty to one hundred degrees.",
  "Perfect for pour over coffee and green tea.",
  "Let me show you how the pocket zip works.",
  "Our next product is a real favorite with the team.",
  "Smooth, bright and flicker free light for long evenings.",
  "Check the size guide below the video before you order.",
  "Thank you so much, you are all amazing!",
];
const zh = [
  "宝子们，这款保温杯只要七十九元。",
  "雾白、墨绿和燕麦三种颜色，都很好看。",
  "保温十二小时，冬天出门也能喝到热水。",
  "家人们看过来，今天下单立减十元。",
  "这条亚麻连衣裙透气又舒服，夏天穿刚刚好。",
  "身高一百六十二，体重五十二公斤，建议穿M码。",
  "库存不多了，喜欢的宝子抓紧时间。",
  "四十八小时内发货，支持七天无理由退换。",
  "这款面霜质地清爽，不油不腻。",
  "欢迎新进直播间的朋友们，点点关注不迷路。",
  "今天的福利真的很给力，错过就没有了。",
  "大家想看哪个颜色，在评论区告诉我。",
  "我们来看一下细节，做工非常精致。",
  "这个价格真的很划算，性价比超高。",
  "买两件还送一个小礼物，数量有限。",
  "有问题随时问我，我会一个一个回答。",
  "这个杯子容量五百毫升，刚好装一天的水。",
  "面料柔软亲肤，洗了也不会变形。",
  "谢谢大家的支持，我们下一款马上来。",
  "三号链接还有最后二十件，手慢无。",
];
const enHeldOut = [
  "Tonight only, the blender is fifty nine dollars with free shipping.",
  "Tap the little cart to see all the colors we have.",
  "My favorite part is how quiet it is in the morning.",
  "Restock is coming on December tenth, stay tuned.",
  "Does anyone want to see the travel size version?",
];
const zhHeldOut = [
  "这款榨汁机今晚只要一百二十九元，包邮到家。",
  "点一下小黄车就能看到全部颜色。",
  "我最喜欢的是它早上用起来特别安静。",
  "十二月十日补货，大家记得关注。",
  "有没有宝子想看旅行装的？",
];

const lines = (voices: string[], texts: string[]): Utterance[] =>
  texts.flatMap((text, i) => [{ voiceId: voices[i % voices.length]!, text }]);

export const trainingUtterances: Utterance[] = [
  ...lines(["en-male-bright", "en-female-clear"], en),
  ...lines(["zh-female-warm", "zh-male-calm"], zh),
];
export const heldOutUtterances: Utterance[] = [
  ...lines(["en-female-clear", "en-male-bright"], enHeldOut),
  ...lines(["zh-male-calm", "zh-female-warm"], zhHeldOut),
];
